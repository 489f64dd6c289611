"""Reads for the live page: which assignment a live session practises, and whose session an
instructor may watch."""

from __future__ import annotations

from abvlmq_web.accounts.models import Role, User
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.scans.models import Scan


def live_assignment(*, user: User, assignment_id) -> Assignment | None:
    """The assignment ``user`` practises in a live session: one of hers; None otherwise (or
    when ``assignment_id`` is no number)."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError):
        return None
    return assignments_for(user=user).filter(pk=pk).first()


def may_go_live(user) -> bool:
    """Residents practise, instructors practise too; program admins and nobody else do."""
    return bool(
        user.is_authenticated and user.is_active and (user.is_resident or user.is_instructor)
    )


def watchable_resident(*, viewer: User, resident_id) -> User | None:
    """The resident whose live session ``viewer`` may watch: an instructor watches the
    residents of the cohorts she instructs; nobody else watches anyone (None)."""
    if not (viewer.is_authenticated and viewer.is_active and viewer.is_instructor):
        return None
    try:
        pk = int(resident_id)
    except (TypeError, ValueError):
        return None
    return (
        User.objects.filter(pk=pk, role=Role.RESIDENT, cohorts__instructors=viewer)
        .distinct()
        .first()
    )


def watchable_residents(*, viewer: User):
    """The residents whose live sessions ``viewer`` may watch (see :func:`watchable_resident`)."""
    if not (viewer.is_authenticated and viewer.is_active and viewer.is_instructor):
        return User.objects.none()
    return (
        User.objects.filter(role=Role.RESIDENT, cohorts__instructors=viewer)
        .distinct()
        .order_by("first_name", "username")
    )


def own_scan(*, user: User, scan_id) -> Scan | None:
    """A scan of ``user``'s own (a capture she reports on the socket), or None."""
    try:
        pk = int(scan_id)
    except (TypeError, ValueError):
        return None
    return Scan.objects.filter(pk=pk, owner=user).select_related("analysis").first()
