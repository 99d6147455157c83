"""Production: every secret and host from the environment, validated before anything starts."""

from django.core.exceptions import ImproperlyConfigured

from blockchain.chain.devkeys import is_well_known_key

from .base import *  # noqa: F403
from .base import CHAIN_PRIVATE_KEY, CHAIN_RPC_URL, DATABASES, SECRET_KEY, WEB_HTTP_THREADS, env

DEBUG = False

if SECRET_KEY.startswith("dev-only") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY to a random string of 50 or more characters.")
if not env("DJANGO_ALLOWED_HOSTS", default=""):
    raise ImproperlyConfigured("Set DJANGO_ALLOWED_HOSTS to the site's host names.")
if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured("Set DATABASE_URL (postgres://user:password@host:5432/name).")
if not env("REDIS_URL", default=""):
    raise ImproperlyConfigured("Set REDIS_URL (redis://host:6379/0).")
if "sqlite" in DATABASES["default"]["ENGINE"]:
    raise ImproperlyConfigured("Production runs on PostgreSQL, not SQLite.")
# The operator key: base falls back to the public dev-chain key, which anyone can sign with.
# With a chain configured, production signs only with the co-op's own key (no chain: no key).
if CHAIN_RPC_URL and not env("CHAIN_PRIVATE_KEY", default="").strip():
    raise ImproperlyConfigured(
        "CHAIN_RPC_URL is set but CHAIN_PRIVATE_KEY is not set: production will not fall back to "
        "the public dev-chain key. Set CHAIN_PRIVATE_KEY to the co-op operator account's own "
        "key (0x and 64 hex digits), or leave CHAIN_RPC_URL empty to run without a chain."
    )
if CHAIN_RPC_URL and is_well_known_key(CHAIN_PRIVATE_KEY):
    raise ImproperlyConfigured(
        "CHAIN_PRIVATE_KEY is a well-known dev-chain key (an account of a public test "
        "mnemonic): anyone could sign as the co-op operator. Set it to the operator account's "
        "own key."
    )

CHANNEL_PREFIX = env("CHANNEL_PREFIX", default=f"hapori-{DATABASES['default']['NAME']}")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [env("REDIS_URL")], "prefix": CHANNEL_PREFIX},
    }
}

# A connection pool per process (psycopg_pool), shared by the HTTP threads (WEB_HTTP_THREADS)
# and the websockets' database calls, which Channels runs on threads that come and go, so a
# persistent connection (CONN_MAX_AGE) per thread would not be reused. The pool hands each
# one of a few kept open, and bounds the connections a process takes from max_connections.
# DATABASE_POOL_MAX_SIZE 0 turns it off (then DATABASE_CONN_MAX_AGE applies).
POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=WEB_HTTP_THREADS + 4)
if POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, POOL_MAX_SIZE),
        "max_size": POOL_MAX_SIZE,
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
