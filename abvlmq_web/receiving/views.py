"""The inbox page (claim, assign) and the resident's scanner names page. Forms post here; each
post calls one service and redirects back."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.accounts.selectors import cohort_residents
from abvlmq_web.receiving.selectors import inbox_for, scanner_names_of
from abvlmq_web.receiving.services import (
    inbox_assign,
    inbox_claim,
    scanner_name_add,
    scanner_name_remove,
)


@login_required
def inbox(request):
    user = request.user
    residents = [] if user.is_resident else cohort_residents(user=user)
    return render(
        request, "receiving/inbox.html", {"entries": inbox_for(user=user), "residents": residents}
    )


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404("No such item.") from exc


@login_required
@require_POST
def inbox_claim_view(request, entry_id: int):
    try:
        scan = inbox_claim(user=request.user, entry_id=entry_id)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("inbox")
    return redirect("scan", scan_id=scan.pk)


@login_required
@require_POST
def inbox_assign_view(request, entry_id: int):
    try:
        scan = inbox_assign(
            user=request.user, entry_id=entry_id, resident_id=_int(request.POST.get("resident"))
        )
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("inbox")
    messages.success(request, f"Scan {scan.pk} assigned to {scan.owner.display_name}.")
    return redirect("inbox")


@login_required
def scanner_names(request):
    if not request.user.is_resident:
        raise Http404("Only residents register scanner names.")
    if request.method == "POST":
        try:
            if "remove" in request.POST:
                scanner_name_remove(resident=request.user, name_id=_int(request.POST["remove"]))
            else:
                scanner_name_add(resident=request.user, name=request.POST.get("name", ""))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        return redirect("scanner-names")
    return render(
        request, "receiving/names.html", {"names": scanner_names_of(resident=request.user)}
    )
