"""The live page and the instructor's watch page: server-rendered shells; the frames, the
meter and the captures are static/js/live.js and live_watch.js over the sockets."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.live.selectors import (
    live_assignment,
    may_go_live,
    watchable_resident,
    watchable_residents,
)


@login_required
def live_page(request):
    if not may_go_live(request.user):
        raise Http404()
    assignment = None
    if request.GET.get("assignment"):
        assignment = live_assignment(user=request.user, assignment_id=request.GET["assignment"])
        if assignment is None:
            raise Http404()
    context = {
        "assignment": assignment,
        "assignments": assignments_for(user=request.user) if request.user.is_resident else [],
        "residents": watchable_residents(viewer=request.user),
    }
    return render(request, "live/live.html", context)


@login_required
def watch_page(request, user_id: int):
    resident = watchable_resident(viewer=request.user, resident_id=user_id)
    if resident is None:
        raise Http404()
    return render(request, "live/watch.html", {"resident": resident})
