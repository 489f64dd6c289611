"""Annotation pages: the campaigns (with the readers' agreement per pair and overall), a new
campaign (program admins), a campaign (its figures, the reader's queue, the adjudicator's
queue), a reader's record in the box editor, the adjudicator's side-by-side view.

Outsiders get 404, as for every role-bound page (core.permissions).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.annotation import selectors, services
from abvlmq_web.annotation.forms import CampaignForm
from abvlmq_web.annotation.models import CampaignScan
from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.core.rubrics import rubric_for_version


@login_required
def campaigns(request):
    mine = selectors.campaigns_for(user=request.user)
    if not request.user.is_program_admin and not mine.exists():
        raise Http404("You read in no annotation campaign.")
    pairs, overall = selectors.figures_by_pair(mine)
    return render(
        request,
        "annotation/campaigns.html",
        {
            "campaigns": [(c, selectors.readers_of(c), selectors.state_counts(c)) for c in mine],
            "pairs": pairs,
            "overall": overall,
        },
    )


def _form_errors(form: CampaignForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field if field in form.fields else None
            if field == "readers":
                target = "reader_2"
            for e in errors:
                form.add_error(target, e)
    else:
        for e in exc.messages:
            form.add_error(None, e)


@login_required
def campaign_new(request):
    require_program_admin(request.user)
    form = CampaignForm(request.POST or None, request.FILES or None)
    refusal = ""
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        people = selectors.eligible_people().in_bulk(
            [int(d[k]) for k in ("reader_1", "reader_2", "adjudicator")]
        )
        common = {
            "user": request.user,
            "name": d["name"],
            "readers": [people[int(d["reader_1"])], people[int(d["reader_2"])]],
            "adjudicator": people[int(d["adjudicator"])],
            "start_from": d["start_from"],
        }
        try:
            if d["source"] == "import":
                files = [(f.name, f.read()) for f in d["files"]]
                campaign = services.campaign_import(files=files, **common)
            else:
                campaign = services.campaign_from_archive(spec=form.archive_filter(), **common)
        except services.ImportRefused as exc:
            refusal = exc.message
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request, f"Campaign “{campaign.name}” made: {campaign.items.count()} scans."
            )
            return redirect("annotation-campaign", campaign_id=campaign.pk)
    return render(request, "annotation/new.html", {"form": form, "refusal": refusal})


@login_required
def campaign(request, campaign_id: int):
    c = selectors.campaign_for(user=request.user, campaign_id=campaign_id)
    order = request.GET.get("order", "campaign")
    if order not in selectors.ORDERS:
        order = "campaign"
    is_adjudicator = request.user.pk == c.adjudicator_id
    oversee = request.user.is_program_admin or is_adjudicator
    rubric = rubric_for_version(c.rubric_version)
    figures = selectors.campaign_figures(c)
    names = {sid: s.name for sid, s in rubric.structures.items()}
    box_rows = [
        (
            sid,
            names.get(sid, sid),
            *figures.box_iou.get(sid, (None, 0)),
            figures.unmatched.get(sid, 0),
        )
        for sid in sorted(set(figures.box_iou) | set(figures.unmatched))
    ]
    return render(
        request,
        "annotation/campaign.html",
        {
            "c": c,
            "readers": selectors.readers_of(c),
            "counts": selectors.state_counts(c),
            "figures": figures,
            "box_rows": box_rows,
            "is_reader": selectors.is_reader(request.user, c),
            "queue": selectors.reader_queue(user=request.user, campaign=c, order=order),
            "order": order,
            "is_adjudicator": is_adjudicator,
            "disputed": selectors.adjudication_queue(campaign=c) if is_adjudicator else [],
            "items": list(c.items.select_related("scan", "adjudicated_by")) if oversee else [],
        },
    )


@login_required
@require_POST
def campaign_close(request, campaign_id: int):
    require_program_admin(request.user)
    c = selectors.campaign_for(user=request.user, campaign_id=campaign_id)
    services.campaign_close(user=request.user, campaign=c)
    messages.success(request, f"Campaign “{c.name}” closed.")
    return redirect("annotation-campaign", campaign_id=c.pk)


@login_required
def read(request, item_id: int):
    item = selectors.item_for(user=request.user, item_id=item_id)
    if not selectors.is_reader(request.user, item.campaign):
        raise Http404("Only the campaign's readers read its scans.")
    rubric = rubric_for_version(item.campaign.rubric_version)
    names = json.dumps({sid: st.name for sid, st in rubric.structures.items()})
    return render(
        request, "annotation/read.html", {"item": item, "c": item.campaign, "names": names}
    )


@login_required
def adjudicate(request, item_id: int):
    item = selectors.item_for(user=request.user, item_id=item_id)
    if request.user.pk != item.campaign.adjudicator_id:
        raise Http404("Only the campaign's adjudicator settles its disputes.")
    if item.state not in (CampaignScan.State.DISPUTED, CampaignScan.State.ADJUDICATED):
        raise Http404("This scan is not disputed.")
    rubric = rubric_for_version(item.campaign.rubric_version)
    names = {sid: st.name for sid, st in rubric.structures.items()}
    readers = {u.pk: n for n, u in enumerate(selectors.readers_of(item.campaign), start=1)}
    sides = []
    for r in selectors.submitted_records(item):
        a = r.answer
        sides.append(
            {
                "record": r,
                "label": f"Reader {readers.get(r.reader_id, '?')}: {r.reader.display_name}",
                "answer": a,
                "planes": " + ".join(
                    f"{rubric.planes[p].name} ({p})" if p in rubric.planes else p
                    for p in a["planes"]
                ),
                "boxes": [names.get(s["id"], s["id"]) for s in a["structures"]],
                "deductions": [
                    (rubric.items[d["item"]].condition, rubric.items[d["item"]].points)
                    if d["item"] in rubric.items
                    else (d["item"], 0)
                    for d in a["deductions"]
                ],
                "json": json.dumps(a),
            }
        )
    return render(
        request,
        "annotation/adjudicate.html",
        {
            "item": item,
            "c": item.campaign,
            "sides": sides,
            "names": json.dumps(names),
            "reasons": item.comparison.get("reasons", []),
        },
    )
