"""Who may see whom: the cohort rules every endpoint and the websocket apply.

- a resident sees herself;
- an instructor sees herself and the residents of the cohorts she instructs;
- a program admin sees everyone.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from abvlmq_web.accounts.models import Cohort, User


def visible_users(*, user: User) -> QuerySet[User]:
    """The users whose scans and progress ``user`` may see."""
    if not user.is_authenticated or not user.is_active:
        return User.objects.none()
    if user.is_program_admin:
        return User.objects.all()
    if user.is_instructor:
        return User.objects.filter(Q(cohorts__instructors=user) | Q(pk=user.pk)).distinct()
    return User.objects.filter(pk=user.pk)


def visible_cohorts(*, user: User) -> QuerySet[Cohort]:
    if not user.is_authenticated or not user.is_active:
        return Cohort.objects.none()
    if user.is_program_admin:
        return Cohort.objects.all()
    if user.is_instructor:
        return Cohort.objects.filter(instructors=user)
    return Cohort.objects.filter(residents=user)


def cohort_residents(*, user: User) -> QuerySet[User]:
    """Residents an instructor (or admin) follows through a cohort, for the cohort page and
    the scan filters: an account in no cohort (the example library's owner of published
    scans, who never signs in) is nobody's resident."""
    return (
        visible_users(user=user)
        .filter(role="resident", cohorts__isnull=False)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
