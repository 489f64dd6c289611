"""Celery tasks of the LTI app (maintenance queue): a resident's result to the gradebooks, a
course's roster from its platform. Thin, by id; a platform that does not answer is tried again
with backoff, and nothing is recorded as sent until it has accepted."""

from __future__ import annotations

import requests
from celery import shared_task
from pylti1p3.exception import LtiException

from abvlmq_web.accounts.models import User
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.lti.models import Course
from abvlmq_web.lti.services import grades_post, roster_sync

_RETRY = {
    "autoretry_for": (LtiException, requests.RequestException),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(**_RETRY)
def post_grades(assignment_id: int, resident_id: int) -> dict:
    assignment = Assignment.objects.filter(pk=assignment_id).first()
    resident = User.objects.filter(pk=resident_id).first()
    if assignment is None or resident is None:
        return {"gone": True}
    result = grades_post(assignment=assignment, resident=resident)
    return {"posted": result.posted, "unchanged": result.unchanged}


@shared_task(**_RETRY)
def sync_roster(course_id: int) -> dict:
    course = Course.objects.filter(pk=course_id).select_related("context", "cohort").first()
    if course is None:
        return {"gone": True}
    result = roster_sync(course=course)
    return {"added": result.added, "removed": result.removed, "unmapped": result.unmapped}
