"""The single sign-on set-up page (issue 32: not the raw admin): a program admin registers the
institution's OpenID Connect provider with named fields, copies the redirect URI into it, says
which group gives which role and cohort, and tries signing in."""

from __future__ import annotations

from allauth.socialaccount.models import SocialApp
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from abvlmq_web.accounts.models import Role
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.sso.models import ClaimRule
from abvlmq_web.sso.services import claim_rule_create, provider_create

FIELDS = (
    ("name", "Name on the sign-in button", "e.g. St Elsewhere Hospital"),
    ("provider_id", "Provider ID", "lower-case, in the redirect URI: e.g. hospital"),
    ("issuer", "Issuer URL", "e.g. https://login.microsoftonline.com/<tenant>/v2.0"),
    ("client_id", "Client ID", "the application (client) ID the provider gave"),
    ("secret", "Client secret", "kept on the server, never shown again"),
    ("groups_claim", "Groups claim", "the ID token's claim that lists the user's groups"),
)


@login_required
def setup(request):
    if not getattr(request.user, "is_program_admin", False):
        raise Http404
    errors: dict = {}
    values = {k: "" for k, _, _ in FIELDS}
    values["groups_claim"] = "groups"
    status = 200
    cohorts = list(visible_cohorts(user=request.user))
    if request.method == "POST" and request.POST.get("form") == "rule":
        app = SocialApp.objects.filter(
            provider="institution", provider_id=request.POST.get("provider", "")
        ).first()
        if app is None:
            raise Http404
        cohort = next((c for c in cohorts if str(c.pk) == request.POST.get("cohort")), None)
        try:
            claim_rule_create(
                user=request.user, provider=app.provider_id,
                claim=app.settings.get("groups_claim", "groups"),
                value=request.POST.get("value", ""), role=request.POST.get("role", ""),
                cohort=cohort,
            )  # fmt: skip
            return redirect("sso-setup")
        except ValidationError as exc:
            errors, status = {f"rule-{app.provider_id}": exc.messages}, 400
    elif request.method == "POST":
        values = {k: request.POST.get(k, "") for k in values}
        try:
            provider_create(user=request.user, **values)
            return redirect("sso-setup")
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
    providers = [
        {
            "app": app,
            "redirect_uri": request.build_absolute_uri(
                reverse("institution_callback", kwargs={"provider_id": app.provider_id})
            ),
            "sign_in": reverse("institution_login", kwargs={"provider_id": app.provider_id}),
            "rules": ClaimRule.objects.filter(provider__in=[app.provider_id, "*"]),
            "errors": errors.get(f"rule-{app.provider_id}", []),
        }
        for app in SocialApp.objects.filter(provider="institution").order_by("name")
    ]
    fields = [
        (k, label, hint, "" if k == "secret" else values[k], (errors.get(k) or [""])[0])
        for k, label, hint in FIELDS
    ]
    context = {
        "providers": providers, "fields": fields, "errors": errors, "cohorts": cohorts,
        "roles": Role.choices,
        "example_redirect": request.build_absolute_uri("/sso/<provider ID>/login/callback/"),
    }  # fmt: skip
    return render(request, "sso/setup.html", context, status=status)
