"""Scans over REST: upload, list, detail (analysis and events), the de-identified image.

Everything is read through selectors.scans_for, so a scan outside the caller's cohort rules is
a 404, never a 403 that would confirm it exists.
"""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.core.rubrics import registered_model_name
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.progress.selectors.self_assessment import score_concealed
from abvlmq_web.review.selectors import reviewed_answer
from abvlmq_web.scans.selectors import queue_position, scans_for
from abvlmq_web.scans.services import UploadQuotaExceeded, scan_upload
from abvlmq_web.throttling import AnonThrottle, UploadThrottle, UserThrottle
from scoring.imaging import IntakeError


class AnalysisSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="queued, running, done or failed")
    score = serializers.FloatField(allow_null=True)
    grade = serializers.SerializerMethodField()
    planes = serializers.ListField(child=serializers.CharField())
    needs_review = serializers.BooleanField()
    abstained = serializers.BooleanField()
    ood_score = serializers.FloatField(allow_null=True)
    model_id = serializers.CharField()
    rubric_version = serializers.CharField()
    failure_reason = serializers.CharField()
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    queue_position = serializers.SerializerMethodField(
        help_text="Analyses ahead of this one while it is queued (0: next); null once started"
    )

    def get_grade(self, analysis) -> str | None:
        return analysis.grade or None  # stored as "" until there is one

    def get_queue_position(self, analysis) -> int | None:
        return queue_position(analysis=analysis)


class ScanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    owner = inline_serializer(
        "ScanOwner",
        {
            "id": serializers.IntegerField(),
            "username": serializers.CharField(),
            "display_name": serializers.CharField(),
        },
    )
    assignment = serializers.IntegerField(source="assignment_id", allow_null=True)
    created_at = serializers.DateTimeField()
    kind = serializers.CharField(help_text="png, jpeg, bmp or dicom, sniffed from the bytes")
    frames = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    is_ultrasound = serializers.BooleanField()
    notice = serializers.CharField(help_text="What intake has to say about the file")
    image_url = serializers.SerializerMethodField()
    analysis = AnalysisSerializer()

    def get_image_url(self, scan) -> str:
        return reverse("api-scan-image", kwargs={"scan_id": scan.pk})


class ReviewedSerializer(serializers.Serializer):
    reviewer = serializers.CharField()
    confirmed = serializers.BooleanField(help_text="Same plane and deductions as the AI")
    at = serializers.DateTimeField()
    planes = serializers.ListField(child=serializers.CharField(), source="plane.planes")
    score = serializers.FloatField(source="score.score")
    grade = serializers.CharField(source="score.grade")


class ScanDetailSerializer(ScanSerializer):
    class AnalysisWithEvents(AnalysisSerializer):
        events = serializers.SerializerMethodField()
        reviewed = serializers.SerializerMethodField(
            help_text="The answer in force once a person reviewed it (null before): it counts "
            "over the AI's planes, score and grade everywhere"
        )
        model_name = serializers.SerializerMethodField(
            help_text="The model registry's name of the model that made it (model_id); empty "
            "for a model the registry does not hold (the settings' model)"
        )

        def get_model_name(self, analysis) -> str:
            return registered_model_name(analysis.model_id)

        def get_events(self, analysis) -> list[dict]:
            return [e.as_message() for e in analysis.events.order_by("seq")]

        @extend_schema_field(ReviewedSerializer(allow_null=True))
        def get_reviewed(self, analysis) -> dict | None:
            if analysis.status != analysis.Status.DONE:
                return None
            reviewed = reviewed_answer(analysis=analysis)
            return ReviewedSerializer(reviewed).data if reviewed else None

    analysis = AnalysisWithEvents()


def _conceal(data: dict, scan, user) -> dict:
    """ "Self-assess first": until she has, the API keeps the answer back as the page does."""
    if score_concealed(user=user, analysis=scan.analysis):
        data["analysis"].update(score=None, grade=None, planes=[], needs_review=False)
        if "events" in data["analysis"]:
            data["analysis"]["events"] = []
        if "reviewed" in data["analysis"]:
            data["analysis"]["reviewed"] = None
        data["analysis"]["concealed"] = True
    return data


def _detail(scan, user) -> dict:
    return _conceal(ScanDetailSerializer(scan).data, scan, user)


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise serializers.ValidationError({name: ["A whole number is required."]}) from None


class ScanListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [AnonThrottle, UserThrottle, UploadThrottle]

    class ScanUploadSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="PNG, JPEG, BMP or DICOM", allow_empty_file=True)
        assignment = serializers.IntegerField(required=False, allow_null=True)
        progress = serializers.CharField(
            required=False, allow_blank=True, max_length=64,
            help_text="The page's key for this upload: a clip's intake reports its frames on "
            "/ws/uploads/<key>/ while the request runs",
        )  # fmt: skip

    @extend_schema(
        parameters=[
            OpenApiParameter("owner", int, description="Only this user's scans"),
            OpenApiParameter("assignment", int, description="Only scans for this assignment"),
            OpenApiParameter("status", str, description="queued, running, done or failed"),
        ],
        responses=ScanSerializer(many=True),
    )
    def get(self, request):
        scans = scans_for(user=request.user)
        for name, lookup in (("owner", "owner_id"), ("assignment", "assignment_id")):
            value = _int_param(request, name)
            if value is not None:
                scans = scans.filter(**{lookup: value})
        if request.query_params.get("status"):
            scans = scans.filter(analysis__status=request.query_params["status"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(scans, request, view=self)
        rows = [_conceal(ScanSerializer(s).data, s, request.user) for s in page]
        return paginator.get_paginated_response(rows)

    @extend_schema(
        request=ScanUploadSerializer,
        responses={
            201: ScanDetailSerializer,
            400: inline_serializer(
                "IntakeRefusal",
                {"code": serializers.CharField(), "detail": serializers.CharField()},
            ),
            429: inline_serializer(
                "UploadRefusal",
                {"code": serializers.CharField(), "detail": serializers.CharField()},
            ),
        },
    )
    def post(self, request):
        serializer = self.ScanUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = None
        if serializer.validated_data.get("assignment") is not None:
            assignment = (
                assignments_for(user=request.user)
                .filter(pk=serializer.validated_data["assignment"])
                .first()
            )
            if assignment is None:
                return Response(
                    {"assignment": ["No such assignment."]}, status=status.HTTP_400_BAD_REQUEST
                )
        try:
            scan = scan_upload(
                user=request.user, file=serializer.validated_data["file"], assignment=assignment,
                progress_key=serializer.validated_data.get("progress") or "",
            )  # fmt: skip
        except IntakeError as exc:
            # the server's fault (no OCR or text detector to check the image with): 503, try
            # again later
            code = 503 if exc.server_fault else status.HTTP_400_BAD_REQUEST
            return Response({"code": exc.code, "detail": exc.message}, status=code)
        except UploadQuotaExceeded as exc:
            return Response(  # some will be scored within the minute: try again then
                {"code": exc.code, "detail": exc.message},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "30"},
            )
        scan = scans_for(user=request.user).get(pk=scan.pk)
        return Response(_detail(scan, request.user), status=201)


class ScanDetailApi(APIView):
    @extend_schema(responses=ScanDetailSerializer)
    def get(self, request, scan_id: int):
        scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
        return Response(_detail(scan, request.user))


class ScanImageApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, scan_id: int):
        scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
        response = FileResponse(scan.image.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
