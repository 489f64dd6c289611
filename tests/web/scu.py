"""A scanner's side of DICOM networking: pynetdicom's SCU sending C-ECHO and C-STORE."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]


def send(
    datasets: list[Dataset], *, port: int, called: str = "ABVLMQ", calling: str = "SCANNER"
) -> list[Dataset]:
    """C-STORE each data set on one association; the status data sets, in order."""
    ae = AE(ae_title=calling)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, "the listener accepted the association"
    try:
        return [assoc.send_c_store(ds) for ds in datasets]
    finally:
        assoc.release()


def echo(*, port: int, called: str = "ABVLMQ", calling: str = "SCANNER") -> int | None:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return None
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()
