"""Annotation campaigns over REST (``/api/annotation/...``).

Outsiders (not a reader, the adjudicator or a program admin) get 404 for a campaign and all
of it. A reader asking for the other reader's record before she has submitted her own gets
403: the campaign is hers to see, that record is not yet.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.models import User
from abvlmq_web.annotation import selectors, services
from abvlmq_web.annotation.models import Campaign, ReaderRecord, Start
from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.review.assessments import rubric_options
from abvlmq_web.throttling import UploadThrottle, UserThrottle


class BoxSerializer(serializers.Serializer):
    id = serializers.CharField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)


class DeductionSerializer(serializers.Serializer):
    item = serializers.CharField()
    reason = serializers.CharField(allow_blank=True, required=False, default="")
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, allow_null=True,
        required=False, default=None,
    )  # fmt: skip


class AnswerInSerializer(serializers.Serializer):
    planes = serializers.ListField(child=serializers.CharField(), min_length=1)
    structures = BoxSerializer(many=True)
    deductions = DeductionSerializer(many=True)


def person(user: User | None) -> dict | None:
    return {"id": user.pk, "name": user.display_name} if user else None


def figures_json(f) -> dict:
    return {
        "scans": f.scans,
        "sent_to_adjudication": f.adjudicated,
        "adjudication_share": f.adjudication_share,
        "plane_kappa": f.plane_kappa,
        "grade_kappa": f.grade_kappa,
        "score_weighted_kappa": f.score_kappa,
        "plane_agreement": f.plane_agreement,
        "grade_agreement": f.grade_agreement,
        "box_iou": {sid: {"mean": m, "pairs": n} for sid, (m, n) in f.box_iou.items()},
        "unmatched_boxes": f.unmatched,
    }


def campaign_json(c: Campaign, *, detail: bool = False) -> dict:
    out = {
        "id": c.pk,
        "name": c.name,
        "created_by": person(c.created_by),
        "created_at": c.created_at,
        "readers": [person(u) for u in selectors.readers_of(c)],
        "adjudicator": person(c.adjudicator),
        "start_from": c.start_from,
        "source": c.source,
        "source_detail": c.source_detail,
        "rubric_version": c.rubric_version,
        "closed": c.closed,
        "counts": selectors.state_counts(c),
    }
    if detail:
        out["figures"] = figures_json(selectors.campaign_figures(c))
    return out


def record_json(r: ReaderRecord) -> dict:
    return {
        "id": r.pk,
        "campaign_scan": r.campaign_scan_id,
        "reader": person(r.reader),
        "started_from": r.started_from,
        "started_model": r.started_model,
        "answer": r.answer,
        "created_at": r.created_at,
        "submitted_at": r.submitted_at,
    }


def _people(ids, field: str) -> list[User]:
    found = {u.pk: u for u in selectors.eligible_people().filter(pk__in=ids)}
    if set(ids) - set(found):
        raise ValidationError({field: ["Readers and adjudicators are instructors or admins."]})
    return [found[i] for i in ids]


class CampaignListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        uploader = serializers.IntegerField(required=False, allow_null=True)
        plane = serializers.CharField(required=False, allow_blank=True, default="")
        grade = serializers.CharField(required=False, allow_blank=True, default="")
        since = serializers.DateField(required=False, allow_null=True)
        until = serializers.DateField(required=False, allow_null=True)
        source = serializers.ChoiceField(
            choices=["", *selectors.SOURCES], required=False, default=""
        )
        flagged = serializers.BooleanField(required=False, default=False)
        limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    class CampaignInSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        readers = serializers.ListField(child=serializers.IntegerField())
        adjudicator = serializers.IntegerField()
        start_from = serializers.ChoiceField(choices=Start.values)
        scans = serializers.ListField(
            child=serializers.IntegerField(), required=False,
            help_text="Archived scans by id; or give `filter`",
        )  # fmt: skip
        filter = serializers.DictField(required=False, help_text="The archive filter")

    @extend_schema(operation_id="api_annotation_campaigns_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        """The campaigns the caller reads, adjudicates or (program admins) all of them."""
        return Response([campaign_json(c) for c in selectors.campaigns_for(user=request.user)])

    @extend_schema(request=CampaignInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        """A campaign of archived scans: by id (``scans``) or chosen by ``filter``."""
        require_program_admin(request.user)
        data = self.CampaignInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        people = {
            "readers": _people(v["readers"], "readers"),
            "adjudicator": _people([v["adjudicator"]], "adjudicator")[0],
        }
        if "scans" in v:
            wanted = set(v["scans"])
            scans = selectors.archive_scans(selectors.ArchiveFilter(scans=tuple(wanted)))
            if len(scans) != len(wanted):
                raise ValidationError({"scans": ["Some of these scans are not in the archive."]})
            campaign = services.campaign_create(
                user=request.user, name=v["name"], start_from=v["start_from"], scans=scans,
                source_detail={"scans": sorted(wanted)}, **people,
            )  # fmt: skip
        else:
            spec = self.FilterSerializer(data=v.get("filter") or {})
            spec.is_valid(raise_exception=True)
            campaign = services.campaign_from_archive(
                user=request.user, name=v["name"], start_from=v["start_from"],
                spec=selectors.ArchiveFilter(**spec.validated_data), **people,
            )  # fmt: skip
        return Response(campaign_json(campaign, detail=True), status=status.HTTP_201_CREATED)


def import_refusal(exc: services.ImportRefused) -> Response:
    code = status.HTTP_503_SERVICE_UNAVAILABLE if exc.server_fault else 400
    return Response({"code": exc.code, "detail": exc.message}, status=code)


class CampaignImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UserThrottle, UploadThrottle]

    class ImportSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        readers = serializers.ListField(child=serializers.IntegerField())
        adjudicator = serializers.IntegerField()
        start_from = serializers.ChoiceField(choices=Start.values)
        files = serializers.ListField(
            child=serializers.FileField(allow_empty_file=True),
            help_text="Images, DICOMs, or zips of them (a folder's files as several)",
        )

    @extend_schema(request=ImportSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        """A campaign of imported files, each through the upload's intake (de-identified); one
        refused file refuses the whole import and keeps nothing."""
        require_program_admin(request.user)
        data = self.ImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            campaign = services.campaign_import(
                user=request.user,
                name=v["name"],
                readers=_people(v["readers"], "readers"),
                adjudicator=_people([v["adjudicator"]], "adjudicator")[0],
                start_from=v["start_from"],
                files=[(f.name, f.read()) for f in v["files"]],
            )
        except services.ImportRefused as exc:
            return import_refusal(exc)
        return Response(campaign_json(campaign, detail=True), status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, campaign_id: int):
        """The campaign, its counts per state and its readers' agreement figures."""
        campaign = selectors.campaign_for(user=request.user, campaign_id=campaign_id)
        return Response(campaign_json(campaign, detail=True))


class CampaignCloseApi(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, campaign_id: int):
        require_program_admin(request.user)
        campaign = selectors.campaign_for(user=request.user, campaign_id=campaign_id)
        return Response(
            campaign_json(services.campaign_close(user=request.user, campaign=campaign))
        )


def item_summary(item) -> dict:
    return {
        "id": item.pk,
        "scan": item.scan_id,
        "state": item.state,
        "image_url": reverse("api-annotation-image", args=[item.pk]),
    }


class QueueApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("order", str, enum=list(selectors.ORDERS))],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, campaign_id: int):
        """The caller's scans to read (``order=uncertain``: where the model is least sure
        first, each with the reason in words) and, for the adjudicator, the disputed ones."""
        campaign = selectors.campaign_for(user=request.user, campaign_id=campaign_id)
        order = request.query_params.get("order", "campaign")
        if order not in selectors.ORDERS:
            raise ValidationError({"order": [f"One of {', '.join(selectors.ORDERS)}."]})
        reading = selectors.reader_queue(user=request.user, campaign=campaign, order=order)
        disputed = (
            selectors.adjudication_queue(campaign=campaign)
            if request.user.pk == campaign.adjudicator_id
            else []
        )
        return Response(
            {
                "order": order,
                "reading": [
                    {
                        **item_summary(i),
                        "opened": i.mine is not None,
                        "model": i.doubt.model,
                        "model_doubt": i.doubt.reasons,
                    }
                    for i in reading
                ],
                "adjudication": [
                    {**item_summary(i), "reasons": i.comparison.get("reasons", [])}
                    for i in disputed
                ],
            }
        )


def _can_see_final(user: User, item) -> bool:
    if user.is_program_admin or user.pk == item.campaign.adjudicator_id:
        return True
    return ReaderRecord.objects.filter(
        campaign_scan=item, reader=user, submitted_at__isnull=False
    ).exists()


class ItemApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, item_id: int):
        """A campaign scan: its state, the caller's record, and (once she may see it) how the
        two records compared and the final answer."""
        item = selectors.item_for(user=request.user, item_id=item_id)
        mine = item.records.filter(reader=request.user).first()
        out = {
            **item_summary(item),
            "campaign": item.campaign_id,
            "mine": record_json(mine) if mine else None,
        }
        if _can_see_final(request.user, item):
            out.update(
                comparison=item.comparison,
                final_answer=item.final_answer,
                final_at=item.final_at,
                adjudicated_by=person(item.adjudicated_by),
            )
        return Response(out)


class ItemImageApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, item_id: int):
        """The scan's de-identified image, for the campaign's people."""
        item = selectors.item_for(user=request.user, item_id=item_id)
        response = FileResponse(item.scan.image.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class MyRecordApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, item_id: int):
        """The reader's record for the editor (opened the first time: it records whether she
        starts from the model's answer or a blank image) with the rubric's options."""
        item = selectors.item_for(user=request.user, item_id=item_id)
        record = services.record_open(reader=request.user, item=item)
        start = None
        if record.started_from == Start.MODEL:
            start, _ = services.model_answer(item.scan)
        return Response(
            {
                "record": record_json(record),
                "ai": start,
                "correction": record.answer if record.submitted else None,
                "rubric": rubric_options(item.campaign.rubric_version),
            }
        )

    @extend_schema(request=AnswerInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, item_id: int):
        """Submit the reader's answer (the same rule as a correction: every key structure of
        the plane boxed or deducted). Final once submitted."""
        item = selectors.item_for(user=request.user, item_id=item_id)
        data = AnswerInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.record_submit(reader=request.user, item=item, **data.validated_data)
        item.refresh_from_db()
        return Response(
            {"record": record_json(record), "state": item.state}, status=status.HTTP_201_CREATED
        )


def readable_record(user: User, record: ReaderRecord) -> ReaderRecord:
    if not selectors.record_readable(user=user, record=record):
        raise PermissionDenied(
            "You see the other reader's record once you have submitted your own."
            if record.submitted
            else "This record is not submitted yet."
        )
    return record


class RecordApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, record_id: int):
        """One reader's record: 403 for the other reader until she has submitted hers."""
        record = get_object_or_404(
            ReaderRecord.objects.select_related("reader", "campaign_scan__campaign"),
            pk=record_id,
            campaign_scan__campaign__in=selectors.campaigns_for(user=request.user),
        )
        return Response(record_json(readable_record(request.user, record)))


class ItemRecordsApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, item_id: int):
        """Every record of the scan (the first submitted first), each by the same rule."""
        item = selectors.item_for(user=request.user, item_id=item_id)
        records = list(item.records.select_related("reader", "campaign_scan__campaign"))
        return Response([record_json(readable_record(request.user, r)) for r in records])


class AdjudicationApi(APIView):
    parser_classes = [JSONParser]

    class AdjudicationInSerializer(AnswerInSerializer):
        from_record = serializers.IntegerField(required=False, allow_null=True, default=None)

    def _item(self, request, item_id: int):
        item = selectors.item_for(user=request.user, item_id=item_id)
        if request.user.pk != item.campaign.adjudicator_id:
            raise Http404("Only the campaign's adjudicator settles its disputes.")
        return item

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, item_id: int):
        """Both records side by side, how they differ, and the rubric's options."""
        item = self._item(request, item_id)
        return Response(
            {
                **item_summary(item),
                "records": [record_json(r) for r in selectors.submitted_records(item)],
                "comparison": item.comparison,
                "final_answer": item.final_answer,
                "ai": None,
                "correction": None,
                "rubric": rubric_options(item.campaign.rubric_version),
            }
        )

    @extend_schema(request=AdjudicationInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, item_id: int):
        """The final answer: a reader's record as it stands (``from_record``) or edited."""
        item = self._item(request, item_id)
        data = self.AdjudicationInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.adjudicate(user=request.user, item=item, **data.validated_data)
        return Response(
            {**item_summary(item), "final_answer": item.final_answer},
            status=status.HTTP_201_CREATED,
        )
