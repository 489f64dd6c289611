"""Who may open what: the role checks pages and APIs share. A refusal is a 404, never a 403,
so that a page's existence tells an outsider nothing."""

from __future__ import annotations

from django.http import Http404


def is_reviewer(user) -> bool:
    """Instructors and program admins review; residents do not."""
    return bool(user.is_instructor or user.is_program_admin)


def require_reviewer(user) -> None:
    if not is_reviewer(user):
        raise Http404("Residents have no review pages.")


def require_program_admin(user) -> None:
    if not user.is_program_admin:
        raise Http404()
