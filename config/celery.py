"""The Celery app: Redis broker, JSON only, tasks discovered in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# Tasks are acknowledged after they ran (CELERY_TASK_ACKS_LATE). A worker killed mid-task
# (SIGKILL, out of memory, host lost) never acknowledges: the Redis transport hands the message
# out again once it has been unacknowledged for the visibility timeout (kombu's default is an
# hour). 10 minutes, because the timeout must outlast:
# - the longest countdown a worker holds a message for before running it (commit_period's retry
#   backoff, at most 300 s, blockchain.tasks.BACKOFF_CAP_SECONDS): a shorter timeout would hand
#   out a second copy of every waiting retry;
# - a task's normal run (a minute's beat tick, a meter batch, a few commits).
# A task still running when its message comes round again is not harmful, only wasted: every
# task is idempotent, and a second commit waits for the operator lock (renewed while the first
# works, blockchain.services.operator), then finds the chain already holds its periods.
# CELERY_VISIBILITY_TIMEOUT overrides it (the worker-kill test uses a few seconds).
VISIBILITY_TIMEOUT_SECONDS = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "600"))

app = Celery("hapori")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Set on the app, so this wins over any CELERY_BROKER_TRANSPORT_OPTIONS in the settings.
app.conf.broker_transport_options = {
    "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
    # Each worker looks for such messages every 10 s (kombu scans only every tenth tick by
    # default, about 100 s); a scan is one sorted-set range read.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
app.autodiscover_tasks()
# Tasks outside an app's tasks.py module.
app.autodiscover_tasks(["trading.live"])
