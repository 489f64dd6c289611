"""``manage.py dataset_export <version> <out.zip>``: a dataset version's export as one zip,
the same file the version's page downloads (the version by id or by name)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from abvlmq_web.datasets.models import DatasetVersion
from abvlmq_web.datasets.services import version_zip
from trainer.datasets import ExportError


class Command(BaseCommand):
    help = "Write a dataset version's export (images, trainer JSONL, ms-swift, COCO) as a zip."

    def add_arguments(self, parser):
        parser.add_argument("version", help="the version's id or name")
        parser.add_argument("out", type=Path, help="the zip to write")

    def handle(self, *args, version: str, out: Path, **options):
        rows = DatasetVersion.objects.filter(name=version)
        if version.isdigit():
            rows = rows | DatasetVersion.objects.filter(pk=int(version))
        row = rows.first()
        if row is None:
            raise CommandError(f"no dataset version {version!r}")
        try:
            path = version_zip(row, out)
        except ExportError as exc:
            raise CommandError(f"{row.name}: {exc}") from exc
        self.stdout.write(
            f"wrote {path}: {row.name}, {row.counts.get('scans')} scans, hash {row.content_hash}"
        )
