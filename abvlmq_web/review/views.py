"""Review pages: the queue, the agreement dashboard, the program's sampling rate."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.permissions import require_program_admin, require_reviewer
from abvlmq_web.progress.charts import rate_bars
from abvlmq_web.review import selectors
from abvlmq_web.review.apis import cohort_param
from abvlmq_web.review.services import sampling_rate_set


@login_required
def queue(request):
    require_reviewer(request.user)
    cohort = cohort_param(request)
    return render(
        request,
        "review/queue.html",
        {
            "items": selectors.review_queue(user=request.user, cohort=cohort),
            "cohorts": visible_cohorts(user=request.user),
            "cohort": cohort,
            "rate": selectors.sampling_rate(),
        },
    )


@login_required
def agreement(request):
    require_reviewer(request.user)
    cohort = cohort_param(request)
    figures = selectors.agreement(user=request.user, cohort=cohort)
    months = [(m, t.confirm_rate, t.reviewed) for m, t in figures.by_month.items()]
    return render(
        request,
        "review/agreement.html",
        {
            "a": figures,
            "cohorts": visible_cohorts(user=request.user),
            "cohort": cohort,
            "rate": selectors.sampling_rate(),
            "months_chart": rate_bars(months, title="Confirmed share by month") if months else "",
        },
    )


@login_required
@require_POST
def sampling(request):
    require_program_admin(request.user)
    try:
        rate = float(request.POST.get("sampling_rate", "")) / 100
        sampling_rate_set(user=request.user, rate=rate)
        messages.success(request, f"Sampling rate set to {rate:.0%}.")
    except (ValueError, ValidationError):
        messages.error(request, "Give a percentage from 0 to 100.")
    return redirect("review-queue")
