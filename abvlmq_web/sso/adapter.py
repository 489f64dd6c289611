"""django-allauth's hooks, as AbVLM-Q wants them (SOCIALACCOUNT_ADAPTER, ACCOUNT_ADAPTER).

- Sign-in only through an institution: allauth's own local sign-up is closed (accounts are made
  by program admins, the demo seed, or just in time here).
- Before a sign-in is accepted: the ID token's nonce must be the one this browser's request
  carried (state), and the claims must map to a role (sso.services.sso_decide). Anything else is
  refused with a page that says why, and no account is created.
- A first sign-in creates the user with the decided role and cohorts; later sign-ins keep the
  role in step with the institution's groups. A local account is linked only when the provider
  says the email is verified (allauth's email authentication, SOCIALACCOUNT_EMAIL_AUTHENTICATION);
  an unverified email that a local account uses is refused (no second account for one person).
"""

from __future__ import annotations

import logging
import re

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.shortcuts import render

from abvlmq_web.accounts.models import User
from abvlmq_web.sso.services import Refused, sso_apply, sso_decide

log = logging.getLogger(__name__)


def refuse(request, reason: str, *, provider: str = "", status: int = 403):
    log.warning("single sign-on refused (%s): %s", provider or "-", reason)
    raise ImmediateHttpResponse(
        render(request, "sso/refused.html", {"reason": reason, "provider": provider}, status=status)
    )


def claims_of(sociallogin) -> dict:
    """OpenID Connect: the ID token's claims, with what the userinfo endpoint adds. SAML: the
    assertion's attributes (each a list of values)."""
    data = sociallogin.account.extra_data or {}
    if _is_saml(sociallogin):
        return dict(data)
    merged = dict(data.get("userinfo") or {})
    merged.update(data.get("id_token") or {})
    return merged


def _is_saml(sociallogin) -> bool:
    return sociallogin.account.get_provider().id == "saml"


def provider_key(provider) -> str:
    """What ClaimRule.provider names: the OIDC provider's id, the SAML organisation's slug."""
    return provider.app.provider_id or provider.app.client_id


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False  # no local sign-up page; see SocialAccountAdapter.is_open_for_signup


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request, sociallogin) -> None:
        provider = sociallogin.account.get_provider()
        name = getattr(provider.app, "name", "") or provider.id
        claims = claims_of(sociallogin)
        if not sociallogin.state:  # SAML: no request of this browser's is answered
            refuse(
                request,
                "This sign-in answer does not match a sign-in started from this browser, or it "
                "was used already. Start again from the login page.",
                provider=name,
            )
        if not _is_saml(sociallogin):
            expected = sociallogin.state.get("nonce")
            if not expected or claims.get("nonce") != expected:
                refuse(
                    request,
                    "The sign-in answer does not belong to this sign-in (its nonce differs). "
                    "Start again from the login page.",
                    provider=name,
                )
        try:
            decision = sso_decide(provider=provider_key(provider), claims=claims)
        except Refused as exc:
            refuse(request, str(exc), provider=name)
        sociallogin._abvlmq_decision = decision
        taken = [
            e.email
            for e in sociallogin.email_addresses
            if not e.verified and User.objects.filter(email__iexact=e.email).exists()
        ]
        if taken and not sociallogin.is_existing:
            refuse(
                request,
                f"An account here already uses {taken[0]}, but {name} has not verified that "
                "this address is yours, so the two cannot be linked. Ask your program "
                "administrator; no account was created.",
                provider=name,
            )
        if sociallogin.is_existing:
            sso_apply(user=sociallogin.user, decision=decision)

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        if error == "cancelled":
            reason = "The sign-in was cancelled at the institution's page."
        elif exception is not None and str(exception):
            reason = str(exception)
        elif extra_context and extra_context.get("saml_last_error_reason"):
            reason = "The institution's SAML answer was refused: " + str(
                extra_context["saml_last_error_reason"]
            )
        elif extra_context and "state_id" in extra_context:
            reason = (
                "This sign-in answer does not match a sign-in started from this browser, or it "
                "was used already. Start again from the login page."
            )
        else:
            reason = "The institution's sign-in did not complete."
        refuse(request, reason, provider=getattr(getattr(provider, "app", None), "name", ""))

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True  # just in time; pre_social_login has refused whoever has no role

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return True  # never the sign-up form: every field comes from the provider

    def populate_user(self, request, sociallogin, data):
        user: User = super().populate_user(request, sociallogin, data)
        base = data.get("username") or (data.get("email") or "").split("@")[0] or "user"
        user.username = _free_username(re.sub(r"[^\w.@+-]", "", base)[:140] or "user")
        decision = getattr(sociallogin, "_abvlmq_decision", None)
        if decision is not None:
            user.role = decision.role
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        decision = getattr(sociallogin, "_abvlmq_decision", None)
        if decision is not None:
            sso_apply(user=user, decision=decision)
        return user


def _free_username(base: str) -> str:
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}{n}"
    return name
