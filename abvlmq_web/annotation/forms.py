"""The new-campaign form: name, two readers, an adjudicator, where the editor starts, and the
scans: archived ones by filter, or imported files (images, DICOMs, zips of them)."""

from __future__ import annotations

from django import forms

from abvlmq_web.annotation.models import Start
from abvlmq_web.annotation.selectors import ArchiveFilter, eligible_people, uploaders
from abvlmq_web.core.rubrics import active_rubric


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files at once (Django's documented way): the list, each file cleaned."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        one = super().clean
        if isinstance(data, list | tuple):
            return [one(d, initial) for d in data]
        return [one(data, initial)] if data else []


class CampaignForm(forms.Form):
    SOURCES = [("archive", "Scans already in the archive"), ("import", "Import files")]
    SCAN_SOURCES = [
        ("", "Any"),
        ("upload", "Uploaded by a resident"),
        ("dicom", "Received from a scanner (DICOM)"),
        ("import", "Imported for an earlier campaign"),
    ]

    name = forms.CharField(max_length=200)
    reader_1 = forms.ChoiceField(label="First reader")
    reader_2 = forms.ChoiceField(label="Second reader")
    adjudicator = forms.ChoiceField()
    start_from = forms.ChoiceField(
        choices=[(Start.MODEL, "The model's answer"), (Start.BLANK, "A blank image")],
        widget=forms.RadioSelect,
        initial=Start.MODEL,
        label="Readers start from",
    )
    source = forms.ChoiceField(
        choices=SOURCES, widget=forms.RadioSelect, initial="archive", label="Scans"
    )
    # the archive's filter
    uploader = forms.ChoiceField(required=False, label="Uploaded by")
    plane = forms.ChoiceField(required=False)
    grade = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    scan_source = forms.ChoiceField(required=False, choices=SCAN_SOURCES, label="Came in")
    flagged = forms.BooleanField(required=False, label="Only scans the model flagged or declined")
    limit = forms.IntegerField(required=False, min_value=1, label="At most (newest first)")
    # the import
    files = MultipleFileField(required=False, label="Images, DICOMs or a zip of them")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        people = [
            (str(u.pk), f"{u.display_name} ({u.get_role_display()})") for u in eligible_people()
        ]
        choose = [("", "choose…")]
        for name in ("reader_1", "reader_2", "adjudicator"):
            self.fields[name].choices = choose + people
        rubric = active_rubric()
        every = [("", "All")]
        self.fields["uploader"].choices = every + [(str(u.pk), u.display_name) for u in uploaders()]
        self.fields["plane"].choices = every + [
            (c, f"{c} · {p.name}") for c, p in rubric.planes.items()
        ]
        self.fields["grade"].choices = every + [(g, g) for g in rubric.grade_names()]

    def archive_filter(self) -> ArchiveFilter:
        d = self.cleaned_data
        return ArchiveFilter(
            uploader=int(d["uploader"]) if d.get("uploader") else None,
            plane=d.get("plane") or "",
            grade=d.get("grade") or "",
            since=d.get("since"),
            until=d.get("until"),
            source=d.get("scan_source") or "",
            flagged=bool(d.get("flagged")),
            limit=d.get("limit"),
        )
