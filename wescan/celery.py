"""The Celery app. Embedded mode runs every task eagerly in the caller's process; production
points CELERY_BROKER_URL at Redis and runs `celery -A wescan worker` and `celery -A wescan beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wescan.settings.local")

app = Celery("wescan")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
