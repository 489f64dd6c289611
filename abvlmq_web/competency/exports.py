"""Rendering of competency records: CSV, XLSX, JSON and the resident's PDF packet.

Plain functions over the selectors' results; the services call them and write the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from django.core.files.storage import default_storage
from django.utils import timezone
from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Font
from PIL import Image

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.competency.selectors import RequirementStatus

COLUMNS = [
    "cohort", "resident", "resident_name", "requirement_set", "plane", "plane_name",
    "required_scans", "min_grade", "required_verified", "evidence", "qualifying_scans",
    "verified_scans", "awaiting_verification", "scans_of_plane", "status", "first_scan",
    "last_scan", "met_on", "signed_off_by", "signed_off_at",
]  # fmt: skip


def evidence(s: RequirementStatus) -> str:
    """What counts toward the requirement, in words every export row carries."""
    return "AI-only scans count" if s.ai_evidence else "instructor-verified scans only"


def _date(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _figures(s: RequirementStatus) -> dict:
    """What every export says of one requirement's status (CSV, XLSX and JSON alike)."""
    r = s.requirement
    return {
        "requirement_set": r.requirement_set.name,
        "plane": r.plane,
        "plane_name": s.plane_name,
        "required_scans": r.min_count,
        "min_grade": r.min_grade,
        "required_verified": s.needed_verified,
        "evidence": evidence(s),
        "qualifying_scans": s.qualifying,
        "verified_scans": s.verified,
        "awaiting_verification": s.awaiting,
        "scans_of_plane": s.scans,
        "status": s.status,
    }


def status_row(cohort_name: str, resident: User, s: RequirementStatus) -> dict:
    return {
        "cohort": cohort_name,
        "resident": resident.username,
        "resident_name": resident.display_name,
        **_figures(s),
        "first_scan": _date(s.first_at),
        "last_scan": _date(s.last_at),
        "met_on": _date(s.met_on),
        "signed_off_by": s.signoff.signer_name if s.signoff else "",
        "signed_off_at": _date(s.signoff.signed_at) if s.signoff else "",
    }


def cohort_rows(cohort: Cohort, table: Sequence[tuple[User, list[RequirementStatus]]]):
    return [status_row(cohort.name, resident, s) for resident, statuses in table for s in statuses]


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def to_xlsx(rows: list[dict], *, title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "Competency"
    ws.append(COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([row[c] for c in COLUMNS])
    for n, name in enumerate(COLUMNS, start=1):
        width = max([len(name)] + [len(str(r[name])) for r in rows])
        ws.column_dimensions[ws.cell(row=1, column=n).column_letter].width = min(width + 2, 40)
    ws.freeze_panes = "A2"
    wb.properties.title = f"Competency: {title}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def status_json(s: RequirementStatus) -> dict:
    return {
        **_figures(s),
        "first_scan": s.first_at.isoformat() if s.first_at else None,
        "last_scan": s.last_at.isoformat() if s.last_at else None,
        "met_on": s.met_on.isoformat() if s.met_on else None,
        "signoff": {"by": s.signoff.signer_name, "at": s.signoff.signed_at.isoformat()}
        if s.signoff
        else None,
        "scans": [
            {
                "scan": c.scan_id,
                "at": c.at.isoformat(),
                "score": c.score,
                "grade": c.grade,
                "qualifies": c.qualifies,
                "verified_by": c.verified_by,
                "model_id": c.model_id,
                "rubric_version": c.rubric_version,
            }
            for c in s.counted
        ],
    }


def resident_json(resident: User, statuses: list[RequirementStatus]) -> dict:
    return {
        "id": resident.pk,
        "username": resident.username,
        "name": resident.display_name,
        "requirements": [status_json(s) for s in statuses],
    }


def cohort_json(cohort: Cohort, table) -> dict:
    return {
        "cohort": {"id": cohort.pk, "name": cohort.name},
        "generated_at": timezone.now().isoformat(),
        "residents": [resident_json(r, statuses) for r, statuses in table],
    }


# --------------------------------------------------------------------------- the PDF packet


def _latin(text: str) -> str:
    """The PDF core fonts speak Latin-1: anything else becomes '?' rather than failing."""
    return str(text).replace("\u2265", ">=").encode("latin-1", "replace").decode("latin-1")


def _thumbnail(image_name: str, size: int = 240) -> Image.Image | None:
    try:
        with default_storage.open(image_name, "rb") as fh:
            img = Image.open(fh)
            img = img.convert("RGB")
    except (OSError, ValueError):
        return None
    img.thumbnail((size, size))
    return img


class _Packet(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.packet_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(_latin(title))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 6, _latin(f"{self.packet_title} - page {self.page_no()}"), align="C")


def resident_pdf(resident: User, statuses: list[RequirementStatus], *, exported_by: User) -> bytes:
    pdf = _Packet(f"Competency packet: {resident.display_name}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        0, 10, _latin(f"Competency packet: {resident.display_name}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 10)
    cohorts = ", ".join(c.name for c in resident.cohorts.all()) or "-"
    for line in (
        f"Resident: {resident.display_name} ({resident.username}); cohort(s): {cohorts}",
        f"Exported {timezone.now():%Y-%m-%d %H:%M} UTC by {exported_by.display_name}",
        "Counts use each scan's assessment as reviewed: an instructor's correction in force "
        "counts over the AI's answer. Verified = reviewed by an instructor.",
    ):
        pdf.multi_cell(0, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Requirements", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    if not statuses:
        pdf.multi_cell(0, 5, "No requirement set applies to this resident's cohorts.")
    for s in statuses:
        r = s.requirement
        signed = (
            f"signed off by {s.signoff.signer_name} on {_date(s.signoff.signed_at)}"
            if s.signoff
            else "not signed off"
        )
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(
            0, 5, _latin(f"{r.plane} {s.plane_name} ({r.requirement_set.name})"),
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(
            0,
            5,
            _latin(
                f"Status: {s.status}. Evidence: {evidence(s)}. Qualifying scans: {s.qualifying} "
                f"of {r.min_count} at {r.min_grade} or better; verified: {s.verified} of "
                f"{s.needed_verified}; awaiting verification: {s.awaiting}; "
                f"scans of this plane: {s.scans}. First {_date(s.first_at) or '-'}, "
                f"last {_date(s.last_at) or '-'}, met {_date(s.met_on) or '-'}; {signed}."
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(1)

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Scores and what produced them", new_x="LMARGIN", new_y="NEXT")
    widths = (14, 12, 28, 12, 18, 28, 40, 38)
    head = ("Scan", "Plane", "Date", "Score", "Grade", "Verified by", "Model", "Rubric")
    pdf.set_font("Helvetica", "B", 8)
    for w, h in zip(widths, head, strict=True):
        pdf.cell(w, 6, h, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 7)
    for s in statuses:
        for c in s.counted:
            cells = (
                f"#{c.scan_id}", s.requirement.plane, _date(c.at),
                "" if c.score is None else f"{c.score:g}",
                c.grade, c.verified_by or "-", c.model_id[:30], c.rubric_version[:26],
            )  # fmt: skip
            for w, text in zip(widths, cells, strict=True):
                pdf.cell(w, 5, _latin(text), border=1)
            pdf.ln()

    best = _best_scans(statuses)
    if best:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, "Best scans", new_x="LMARGIN", new_y="NEXT")
        x0, y = pdf.l_margin, pdf.get_y() + 2
        for n, (plane, c) in enumerate(best):
            thumb = _thumbnail(c.image_name)
            x = x0 + (n % 3) * 62
            if n and n % 3 == 0:
                y += 62
            if thumb is not None:
                pdf.image(thumb, x=x, y=y, w=56)
            pdf.set_xy(x, y + 50)
            pdf.set_font("Helvetica", "", 8)
            pdf.cell(56, 4, _latin(f"{plane} scan #{c.scan_id}: {c.score:g} {c.grade}"))
    return bytes(pdf.output())


def _best_scans(statuses: list[RequirementStatus], per_plane: int = 1, limit: int = 9):
    out = []
    for s in statuses:
        scored = [c for c in s.counted if c.score is not None]
        scored.sort(key=lambda c: (-c.score, c.at))
        out.extend((s.requirement.plane, c) for c in scored[:per_plane])
    return out[:limit]
