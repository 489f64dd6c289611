"""`manage.py purge_inbox [--days N]`: delete unclaimed received scans older than N days."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand

from abvlmq_web.receiving.services import inbox_purge


class Command(BaseCommand):
    help = "Delete unclaimed received scans older than ABVLMQ_INBOX_MAX_AGE_DAYS (audited)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=settings.ABVLMQ_INBOX_MAX_AGE_DAYS)

    def handle(self, *args, days, **options):
        deleted = inbox_purge(max_age=dt.timedelta(days=days))
        self.stdout.write(f"{deleted} unclaimed scans deleted")
