"""Whether the menu shows "Annotation": to program admins, and to the readers and adjudicators
of a campaign (asked only when a page draws the menu)."""

from __future__ import annotations

from django.db.models import Q

from abvlmq_web.annotation.models import Campaign


def annotation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_resident:
        return {"annotates": False}
    if user.is_program_admin:
        return {"annotates": True}
    # a callable: the template calls it when it draws the menu, not before
    return {
        "annotates": lambda: Campaign.objects.filter(Q(readers=user) | Q(adjudicator=user)).exists()
    }
