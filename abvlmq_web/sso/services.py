"""Claims in, a decision out: which role and cohorts a signed-in identity gets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q

from abvlmq_web.accounts.models import Cohort, Role, User
from abvlmq_web.sso.models import ANY_PROVIDER, ClaimRule

RANK = {Role.RESIDENT: 0, Role.INSTRUCTOR: 1, Role.PROGRAM_ADMIN: 2}


class Refused(Exception):
    """The identity may not sign in here; ``str()`` is the sentence the person reads."""


@dataclass(frozen=True)
class Decision:
    role: str
    cohorts: tuple[Cohort, ...] = field(default=())
    matched: tuple[str, ...] = field(default=())  # the rules that decided, for the log


def _values(claims: Mapping[str, Any], name: str) -> set[str]:
    raw = claims.get(name)
    if raw is None:
        return set()
    if isinstance(raw, str):
        return {raw}
    if isinstance(raw, Iterable):
        return {str(v) for v in raw}
    return {str(raw)}


def sso_decide(*, provider: str, claims: Mapping[str, Any]) -> Decision:
    """The role and cohorts the rules give these claims; :class:`Refused` when none matches."""
    rules = list(
        ClaimRule.objects.filter(Q(provider=provider) | Q(provider=ANY_PROVIDER)).select_related(
            "cohort"
        )
    )
    matched = [r for r in rules if r.value in _values(claims, r.claim)]
    if not matched:
        names = sorted({r.claim for r in rules}) or ["groups"]
        shown = "; ".join(f"{n}: {', '.join(sorted(_values(claims, n))) or 'none'}" for n in names)
        raise Refused(
            "Your institution's account is not in a group that AbVLM-Q knows "
            f"({shown}). Ask your program administrator to add your group; "
            "no account was created."
        )
    role = max((r.role for r in matched), key=lambda r: RANK[Role(r)])
    cohorts = tuple({r.cohort.pk: r.cohort for r in matched if r.cohort is not None}.values())
    return Decision(role=role, cohorts=cohorts, matched=tuple(str(r) for r in matched))


@transaction.atomic
def sso_apply(*, user: User, decision: Decision) -> User:
    """Give ``user`` the decided role (and its staff rights) and cohorts; saved."""
    user.role = decision.role
    user.is_staff = user.is_superuser = decision.role == Role.PROGRAM_ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    for cohort in decision.cohorts:
        if decision.role == Role.RESIDENT:
            cohort.residents.add(user)
        elif decision.role == Role.INSTRUCTOR:
            cohort.instructors.add(user)
    return user
