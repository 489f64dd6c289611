"""Scan lists filtered by resident, plane, grade, dates and assignment, and paged.

Plane and grade are those of each scan as reviewed (a correction in force over the AI's
answer), so they are filtered after review.selectors.with_reviewed, in Python: a JSON
containment query would not run on SQLite, the embedded default. A cohort's scans are a few
thousand at most; the other filters run in the database first.
"""

from __future__ import annotations

from django import forms
from django.core.paginator import Page, Paginator

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import cohort_residents
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.review.selectors import with_reviewed

PAGE_SIZE = 25


class ScanFilterForm(forms.Form):
    resident = forms.ChoiceField(required=False)
    plane = forms.ChoiceField(required=False)
    grade = forms.ChoiceField(required=False)
    assignment = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        rubric = active_rubric()
        every = [("", "All")]
        if user.is_resident:
            del self.fields["resident"]
        else:
            self.fields["resident"].choices = every + [
                (str(r.pk), r.display_name) for r in cohort_residents(user=user)
            ]
        self.fields["plane"].choices = every + [
            (c, f"{c} · {p.name}") for c, p in rubric.planes.items()
        ]
        self.fields["grade"].choices = every + [(g, g) for g in rubric.grade_names()]
        self.fields["assignment"].choices = every + [
            (str(a.pk), a.title) for a in assignments_for(user=user)
        ]


def filtered_scans(scans, form: ScanFilterForm) -> list:
    """``scans`` (a queryset) narrowed by the valid fields of ``form``, as reviewed."""
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("resident"):
        scans = scans.filter(owner_id=data["resident"])
    if data.get("assignment"):
        scans = scans.filter(assignment_id=data["assignment"])
    if data.get("since"):
        scans = scans.filter(created_at__date__gte=data["since"])
    if data.get("until"):
        scans = scans.filter(created_at__date__lte=data["until"])
    rows = with_reviewed(scans)
    if data.get("plane"):
        rows = [s for s in rows if s.reviewed and data["plane"] in s.reviewed.planes]
    if data.get("grade"):
        rows = [s for s in rows if s.reviewed and s.reviewed.grade == data["grade"]]
    return rows


def page_of(rows: list, number) -> Page:
    return Paginator(rows, PAGE_SIZE).get_page(number)
