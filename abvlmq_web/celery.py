"""The Celery application: `celery -A abvlmq_web worker -Q inference`.

Configuration comes from Django settings (the CELERY_ names); tasks are found in each app's
``tasks.py``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abvlmq_web.settings")

app = Celery("abvlmq_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
