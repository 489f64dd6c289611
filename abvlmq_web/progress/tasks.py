"""Celery tasks of the progress app: the daily due-assignment reminders, run by the sweeper's
beat (settings.CELERY_BEAT_SCHEDULE) on the maintenance queue."""

from __future__ import annotations

from celery import shared_task

from abvlmq_web.progress.services import remind_due_assignments


@shared_task(ignore_result=True)
def remind_due() -> int:
    return remind_due_assignments()
