"""The DICOM C-STORE SCP a scanner sends to (pynetdicom), and C-ECHO so that it can check.

Every storage SOP class and every transfer syntax pynetdicom knows is accepted at association
time; what intake cannot read (a structured report, a compression no decoder here handles) is
refused per instance with a failure status and intake's message in Error Comment, so the
scanner's queue shows why. Each instance is taken in by ``services.instance_receive`` in the
association's thread, with a database connection of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from abvlmq_web.receiving.models import InboxEntry
from abvlmq_web.receiving.services import instance_receive
from scoring.imaging import IntakeError

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # too large, too many pixels or frames
CANNOT_UNDERSTAND = 0xC000  # not an image we can read
PROCESSING_FAILURE = 0x0110  # our fault: the scanner may retry
_RESOURCE_CODES = {"too_large", "too_many_pixels", "too_many_frames"}


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]  # LO: 64 characters at most
    return status


def handle_store(event) -> Dataset:
    """EVT_C_STORE: the instance as received (file meta included) through intake."""
    close_old_connections()
    try:
        data = event.encoded_dataset(include_meta=True)
        received = instance_receive(data=data, source=InboxEntry.Source.C_STORE)
    except IntakeError as exc:
        log.warning("refused an instance from %s: %s", _caller(event), exc.code)
        code = OUT_OF_RESOURCES if exc.code in _RESOURCE_CODES else CANNOT_UNDERSTAND
        return _status(code, exc.message)
    except Exception:
        log.exception("could not take in an instance from %s", _caller(event))
        return _status(PROCESSING_FAILURE, "The receiver failed; send again later.")
    finally:
        connection.close()  # this thread's connection; the next instance opens its own
    where = f"resident {received.resident.pk}" if received.resident else "the inbox"
    log.info("received scan %s from %s for %s", received.scan.pk, _caller(event), where)
    return _status(SUCCESS)


def _caller(event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def build_ae(
    *, ae_title: str, calling_aets: list[str] | None = None, store: Callable = handle_store
):
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    if calling_aets:
        ae.require_calling_aet = list(calling_aets)
    return ae, [(evt.EVT_C_STORE, store)]


def start(
    *, host: str, port: int, ae_title: str, calling_aets: list[str] | None = None, block: bool
):
    """Listen on ``host:port``. Blocking (the management command) or in a thread (returns the
    server, whose ``shutdown()`` stops it)."""
    ae, handlers = build_ae(ae_title=ae_title, calling_aets=calling_aets)
    log.info("DICOM listener %s on %s:%s", ae_title, host, port)
    return ae.start_server((host, port), block=block, evt_handlers=handlers)


def purge_every(seconds: float, purge: Callable[[], int]) -> threading.Event:
    """Run ``purge`` now and then every ``seconds`` in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            close_old_connections()
            try:
                deleted = purge()
                if deleted:
                    log.info("inbox purge: %d unclaimed scans deleted", deleted)
            except Exception:
                log.exception("inbox purge failed")
            finally:
                connection.close()
            stop.wait(seconds)

    threading.Thread(target=loop, name="inbox-purge", daemon=True).start()
    return stop
