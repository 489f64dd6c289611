"""The notifications page: the list (opening it marks them read) and the preferences."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.notifications.models import Kind, Preference
from abvlmq_web.notifications.selectors import notifications_of, preference_table
from abvlmq_web.notifications.services import notifications_read, preferences_set


@login_required
def index(request):
    rows = list(notifications_of(user=request.user)[:100])
    unread = {n.pk for n in rows if n.read_at is None}
    notifications_read(user=request.user)
    return render(
        request,
        "notifications/index.html",
        {"rows": rows, "unread": unread, "prefs": preference_table(user=request.user)},
    )


@login_required
@require_POST
def preferences(request):
    on = {
        (k, c)
        for k in Kind.values
        for c in Preference.Channel.values
        if request.POST.get(f"{k}-{c}") == "on"
    }
    preferences_set(user=request.user, on=on)
    messages.success(request, "Notification settings saved.")
    return redirect("notifications")
