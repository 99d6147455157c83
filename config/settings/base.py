"""Settings shared by every environment, read from the environment (django-environ).

Defaults are the embedded ones `make run` uses on a fresh machine: SQLite under var/, Redis at
REDIS_URL (the launcher starts an embedded one when none answers), a Ganache chain under var/.
"""

import datetime as dt
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "csp",
    "axes",
    "coop",
    "metering",
    "trading",
    "blockchain",
    "lab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, with the public chain node's origin in connect-src (the Verify button).
    "blockchain.middleware.ChainNodeCSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coop.context_processors.coop",
                "lab.context_processors.lab",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hapori.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # make run's web, worker and beat share one SQLite file: WAL lets readers and a writer
    # overlap, IMMEDIATE takes the write lock up front, and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Content-Security-Policy (django-csp): scripts only from our own static files (Plotly and ethers
# included, from node_modules; no inline script or handler anywhere), websockets and fetches to
# this site only, and to the chain node of CHAIN_PUBLIC_RPC_URL (added to connect-src per
# response by blockchain.middleware, so it follows that setting), no framing. Styles allow
# inline because Plotly and Swagger UI set them at run time.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes), on /accounts/login/ and /admin/login/ alike: five failures for
# one username, or from one address, lock that username or address out for 15 minutes. A
# success clears the count. Staff unlock early in Admin -> Axes -> Access attempts (delete the
# rows) or with `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Password-reset mail: at most this many per address an hour, and per client IP an hour.
PASSWORD_RESET_PER_EMAIL_PER_HOUR = 3
PASSWORD_RESET_PER_IP_PER_HOUR = 10
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-nz"
# Stored in UTC (USE_TZ); Pacific/Auckland is the zone people read times in and the zone that
# fixes trading-period boundaries (coop.nz does those in UTC from local midnight).
TIME_ZONE = "Pacific/Auckland"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Plotly and ethers (the Verify button's chain calls) are served from the npm install, never
# from a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", BASE_DIR / "node_modules" / "plotly.js-dist-min"),
    ("vendor/ethers", BASE_DIR / "node_modules" / "ethers" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
# Pub/sub layer: a group push is one PUBLISH, instead of a message per connected channel, that
# each web process receives and decodes once on the one channel it joins the group with
# (trading.live.fanout) and writes to its sockets; live pushes are fire-and-forget, so nothing
# is queued.
# Redis pub/sub ignores database numbers: two deployments sharing one Redis server (staging and
# production, say) would hear each other's pushes, members' live power included, unless each
# has its own prefix. Production derives one from its database name when none is set.
CHANNEL_PREFIX = env("CHANNEL_PREFIX", default="hapori")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_PREFIX},
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# At-least-once delivery: a task is acknowledged after it ran, so a killed worker's task runs
# again (every task is idempotent).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# The research lab: run folders (reports, and the files a run's chunks hand each other). Put it
# on storage every worker machine mounts when a study fans out over several machines.
LAB_RUNS_DIR = env.path("LAB_RUNS_DIR", default=VAR_DIR / "lab")
# The only folders a scenario saved on the site may read data from (the command line may name
# any file): the shared NZ data beside the project, downloaded prices, the example scenarios.
LAB_DATA_DIRS = env.list(
    "LAB_DATA_DIRS",
    default=[
        str(BASE_DIR.parent / "shared" / "data"),
        str(VAR_DIR / "prices"),
        str(BASE_DIR / "lab" / "scenarios"),
    ],
)
LAB_CHUNK_DAYS = env.int("LAB_CHUNK_DAYS", default=28)  # a run's market is cleared in chunks
# Studies have a queue of their own, so an hour-long run never holds up a gate closure: run
# workers for it (`celery -A config worker -Q lab`) on as many machines as studies need.
LAB_QUEUE = env("LAB_QUEUE", default="lab")
# EMI's monthly FinalEnergyPrices archives, for `manage.py fetch_emi_prices` (or a mirror).
EMI_DATASETS_URL = env(
    "EMI_DATASETS_URL",
    default="https://www.emi.ea.govt.nz/Wholesale/Datasets/DispatchAndPricing/FinalEnergyPrices/ByMonth/",
)
CELERY_TASK_ROUTES = {"lab.tasks.*": {"queue": LAB_QUEUE}}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Hapori co-op <noreply@hapori.localhost>")

# What a client may send. Orders and rules are a few hundred bytes; these bounds leave room and
# refuse the hostile rest before it is decoded (config.payloads).
API_MAX_BODY_BYTES = 64 * 1024
API_MAX_JSON_DEPTH = 16
WEBSOCKET_MAX_MESSAGE_BYTES = 4 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default, stated: form bodies
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # an upload past this is spooled to a temporary file
# The largest body any request may have: a resident's meter file (metering.services.eiep_import's
# UPLOAD_MAX_BYTES, 5 MiB) and its form. Bigger is refused before Django reads it (config.asgi).
REQUEST_MAX_BODY_BYTES = 6 * 1024 * 1024
# Threads per web process serving HTTP (config.asgi): how many requests one process works on at
# once. A request holds a database connection throughout, so production's pool has this many
# and a few more (for websockets' database calls).
WEB_HTTP_THREADS = env.int("WEB_HTTP_THREADS", default=8)

REST_FRAMEWORK = {
    # JSON only: the API's pages are its Swagger docs (/api/docs/). DRF's browsable pages need
    # inline scripts the CSP refuses, and choosing between two renderers costs every call.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.OneRendererNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Token first: its WWW-Authenticate header makes an unauthenticated call a 401, as the
    # schema says, rather than the 403 that session authentication alone answers.
    # DRF's token authentication that reads the member with the token, in one statement.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trading.api.authentication.MemberTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.ErrorsAutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hapori co-op exchange API",
    "DESCRIPTION": "Peer-to-peer electricity trading for a New Zealand community energy co-op.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OrderSideEnum": "trading.models.Order.Side",
        "StandingOrderSideEnum": "trading.models.StandingOrder.Side",
    },
}

# The chain. Empty CHAIN_RPC_URL means "no chain configured": commits wait until there is one.
CHAIN_RPC_URL = env("CHAIN_RPC_URL", default="")
# The node members check their trades on, from their own browser (the Verify button) or tools
# (docs/chain.md): published in every proof and allowed by the CSP. The co-op's own node unless
# set; set it when that one is not reachable from members' browsers (a private address), or
# empty to publish none. A site served over https needs an https node (browsers block the rest).
CHAIN_PUBLIC_RPC_URL = env("CHAIN_PUBLIC_RPC_URL", default=CHAIN_RPC_URL)
# Account 0 of the public, well-known dev mnemonic ("test test ... junk"); never a real key.
DEV_CHAIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHAIN_PRIVATE_KEY = env("CHAIN_PRIVATE_KEY", default=DEV_CHAIN_KEY)

# Live wholesale prices.
PRICE_SOURCE = env("PRICE_SOURCE", default="auto")
PRICE_POLL_SECONDS = env.int("PRICE_POLL_SECONDS", default=300)
EM6_URL = env("EM6_URL", default="https://api.em6.co.nz/ords/em6/data_api/region/price/")
EMI_API_URL = env("EMI_API_URL", default="https://emi.azure-api.net/real-time-dispatch/")
EMI_API_KEY = env("EMI_API_KEY", default="")
WITS_API_URL = env("WITS_API_URL", default="https://api.electricityinfo.co.nz")
WITS_CLIENT_ID = env("WITS_CLIENT_ID", default="")
WITS_CLIENT_SECRET = env("WITS_CLIENT_SECRET", default="")
DISPLAY_TOKEN = env("DISPLAY_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
