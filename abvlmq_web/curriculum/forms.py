"""The assignment form of the instructors' pages (parsing only; the service checks the rest)."""

from __future__ import annotations

from django import forms

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import cohort_residents, visible_cohorts
from abvlmq_web.core.rubrics import active_rubric


class AssignmentForm(forms.Form):
    title = forms.CharField(max_length=200)
    cohort = forms.ModelChoiceField(queryset=None)
    resident = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="The whole cohort",
        label="For",
        help_text="Leave on the whole cohort, or set it for one resident of it.",
    )
    target_planes = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple, label="Target planes"
    )
    min_grade = forms.ChoiceField(choices=(), label="Minimum grade")
    scan_count = forms.IntegerField(min_value=1, initial=1, label="Scans needed")
    due_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Due date"
    )
    instructions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        rubric = active_rubric()
        self.fields["cohort"].queryset = visible_cohorts(user=user).order_by("name")
        residents = cohort_residents(user=user)
        self.fields["resident"].queryset = residents
        self.fields["resident"].label_from_instance = lambda u: u.display_name
        self.fields["target_planes"].choices = [
            (code, f"{code} · {p.name}") for code, p in rubric.planes.items() if p.standard
        ]
        self.fields["min_grade"].choices = [(g, g) for g in rubric.grade_names()]
