# Every process (daphne, Celery worker and beat, manage.py) imports this package first, through
# its settings module or `celery -A config`, so the process-wide limits are set here.
from .process import cap_recursion_limit

cap_recursion_limit()

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
