"""What ties an LMS course to this application (django-lti's ``lti_tool`` keeps the
registrations, deployments, contexts, LTI users, memberships and resource links).

- ``Course``: a course (LTI context) is a cohort here; its members are the cohort's.
- ``AssignmentLink``: a resource link of the course opens an assignment; the line item of the
  platform's gradebook that the assignment's results go to.
- ``GradePosted``: the last result sent for a resident, so a score is sent when it changes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Course(models.Model):
    context = models.OneToOneField(
        "lti_tool.LtiContext", on_delete=models.CASCADE, related_name="course"
    )
    cohort = models.OneToOneField(
        "accounts.Cohort", on_delete=models.CASCADE, related_name="lti_course"
    )
    roster_synced_at = models.DateTimeField(null=True, blank=True)
    roster_error = models.TextField(blank=True, help_text="The last roster sync's failure, if any")

    def __str__(self) -> str:
        return f"{self.context} -> {self.cohort}"


class AssignmentLink(models.Model):
    resource_link = models.OneToOneField(
        "lti_tool.LtiResourceLink", on_delete=models.CASCADE, related_name="assignment_link"
    )
    assignment = models.ForeignKey(
        "curriculum.Assignment", on_delete=models.CASCADE, related_name="lti_links"
    )
    lineitem_url = models.URLField(max_length=500, blank=True)
    score_scopes = models.JSONField(default=list, help_text="The AGS scopes the platform granted")

    def __str__(self) -> str:
        return f"{self.resource_link} -> {self.assignment}"


class GradePosted(models.Model):
    link = models.ForeignKey(AssignmentLink, on_delete=models.CASCADE, related_name="grades")
    resident = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    score_given = models.FloatField()
    score_maximum = models.FloatField()
    posted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "resident"], name="one_grade_per_link")
        ]

    def __str__(self) -> str:
        return f"{self.resident_id}: {self.score_given}/{self.score_maximum}"
