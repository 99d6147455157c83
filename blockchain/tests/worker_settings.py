"""Settings for the real Celery workers of test_app_worker_kill (not a test module).

The test settings, with tasks going through the broker instead of running in process, a file
SQLite database that the test, its setup script and both workers open, the test's own queue and
the test's dev chain. The Redis database is the test settings' one for this xdist worker.
"""

import os

from config.settings.test import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["HAPORI_WORKER_DB"],
        "ATOMIC_REQUESTS": False,
        "CONN_MAX_AGE": 0,
        # As base.py gives `make run`'s shared SQLite file: processes overlap, writers queue.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["HAPORI_WORKER_QUEUE"]
CHAIN_RPC_URL = os.environ["CHAIN_RPC_URL"]
