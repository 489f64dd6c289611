"""`manage.py dicom_listener`: the C-STORE SCP scanners send to.

AE title, address and port from the environment (ABVLMQ_DICOM_AE_TITLE, ABVLMQ_DICOM_HOST,
ABVLMQ_DICOM_PORT, default ABVLMQ on 127.0.0.1:11112; ABVLMQ_DICOM_CALLING_AETS to allow only
some scanners) or the options. It also purges the inbox of unclaimed scans older than
ABVLMQ_INBOX_MAX_AGE_DAYS, at start and then hourly.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from abvlmq_web.receiving import listener
from abvlmq_web.receiving.services import inbox_purge


class Command(BaseCommand):
    help = "Receive DICOM instances (C-STORE) from scanners and take them in as scans."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.ABVLMQ_DICOM_HOST)
        parser.add_argument("--port", type=int, default=settings.ABVLMQ_DICOM_PORT)
        parser.add_argument("--ae-title", default=settings.ABVLMQ_DICOM_AE_TITLE)
        parser.add_argument(
            "--purge-every", type=float, default=3600, help="seconds between inbox purges"
        )

    def handle(self, *args, host, port, ae_title, purge_every, **options):
        stop = listener.purge_every(purge_every, inbox_purge)
        server = listener.start(
            host=host,
            port=port,
            ae_title=ae_title,
            calling_aets=settings.ABVLMQ_DICOM_CALLING_AETS,
            block=False,
        )
        # Said once the socket is bound: scripts and tests wait for this line.
        self.stdout.write(f"DICOM listener {ae_title} listening on {host}:{port}")
        self.stdout.flush()
        try:
            threading.Event().wait()  # until Ctrl-C or SIGTERM
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.shutdown()
