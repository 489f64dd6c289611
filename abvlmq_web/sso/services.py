"""Claims in, a decision out: which role and cohorts a signed-in identity gets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q

from abvlmq_web.accounts.models import Cohort, Role, User
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.permissions import require_program_admin
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


# --------------------------------------------------------------------------- set-up

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")


def provider_create(
    *,
    user: User,
    name: str,
    provider_id: str,
    issuer: str,
    client_id: str,
    secret: str,
    groups_claim: str = "groups",
) -> SocialApp:
    """An institution's OpenID Connect provider, from the set-up page (a program admin's): every
    field checked, in words an IT administrator reads; nothing saved when one is wrong. Its
    claim rules come after (:func:`claim_rule_create`)."""
    require_program_admin(user)
    problems: dict[str, str] = {}
    if not name.strip():
        problems["name"] = "Required: the name on the sign-in button."
    if not SLUG.match(provider_id.strip()):
        problems["provider_id"] = (
            "Lower-case letters, digits and dashes (it goes in the redirect URI): e.g. hospital."
        )
    elif SocialApp.objects.filter(provider_id=provider_id.strip()).exists():
        problems["provider_id"] = "A provider with this ID exists."
    try:
        URLValidator(schemes=["https"] if not settings.DEBUG else ["https", "http"])(issuer.strip())
    except ValidationError:
        problems["issuer"] = "The issuer's https:// URL (its /.well-known/openid-configuration)."
    if not client_id.strip():
        problems["client_id"] = "Required: the client (application) ID the provider gave."
    if not secret.strip():
        problems["secret"] = "Required: the client secret the provider gave."
    if not groups_claim.strip() or len(groups_claim) > 100:
        problems["groups_claim"] = "The claim that carries the groups: e.g. groups, roles."
    if problems:
        raise ValidationError(problems)
    app = SocialApp.objects.create(
        provider="institution", provider_id=provider_id.strip(), name=name.strip(),
        client_id=client_id.strip(), secret=secret.strip(),
        settings={"server_url": issuer.strip().rstrip("/"), "fetch_userinfo": True,
                  "groups_claim": groups_claim.strip()},
    )  # fmt: skip
    audit_record(
        actor=user, action="sso.provider.create",
        details={"provider_id": app.provider_id, "issuer": app.settings["server_url"]},
    )  # fmt: skip
    return app


def claim_rule_create(
    *, user: User, provider: str, claim: str, value: str, role: str, cohort: Cohort | None
) -> ClaimRule:
    """Who a provider's users become: members of group ``value`` get ``role`` (and ``cohort``)."""
    require_program_admin(user)
    problems: dict[str, str] = {}
    if not value.strip():
        problems["value"] = "Required: the group (the claim's value) that grants the role."
    if role not in Role.values:
        problems["role"] = "Choose a role."
    if ClaimRule.objects.filter(provider=provider, claim=claim, value=value.strip()).exists():
        problems["value"] = "A rule for this group exists."
    if problems:
        raise ValidationError(problems)
    rule = ClaimRule.objects.create(
        provider=provider, claim=claim, value=value.strip(), role=role, cohort=cohort
    )
    audit_record(actor=user, action="sso.rule.create", details={"rule": str(rule)})
    return rule
