"""Review over REST: an analysis' corrections (read, correct, confirm), disputes, the queue,
the agreement figures and the corrections export. Outsiders get 404, as for scans."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.permissions import require_reviewer
from abvlmq_web.review import selectors
from abvlmq_web.review.assessments import ai_assessment, rubric_options
from abvlmq_web.review.services import (
    correction_confirm,
    correction_create,
    corrections_export,
    dispute_open,
)
from abvlmq_web.scans.selectors import visible_analysis


def cohort_param(request):
    """The ?cohort= filter, which must be one of the caller's cohorts (404 otherwise)."""
    value = request.GET.get("cohort", "")
    if not value:
        return None
    cohort = (
        visible_cohorts(user=request.user).filter(pk=value).first() if value.isdigit() else None
    )
    if cohort is None:
        raise Http404("No such cohort.")
    return cohort


class BoxedStructureSerializer(serializers.Serializer):
    id = serializers.CharField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)


class ItemSerializer(serializers.Serializer):
    item = serializers.CharField()
    reason = serializers.CharField(allow_blank=True, required=False, default="")
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, allow_null=True,
        required=False, default=None,
    )  # fmt: skip


class CorrectionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer.display_name")
    created_at = serializers.DateTimeField()
    planes = serializers.ListField(child=serializers.CharField())
    structures = BoxedStructureSerializer(many=True)
    deductions = ItemSerializer(many=True)
    score = serializers.FloatField()
    grade = serializers.CharField()
    rubric_version = serializers.CharField()
    confirmed = serializers.BooleanField()
    note = serializers.CharField()


class CorrectionListApi(APIView):
    class CorrectionInSerializer(serializers.Serializer):
        planes = serializers.ListField(child=serializers.CharField(), min_length=1)
        structures = BoxedStructureSerializer(many=True)
        deductions = ItemSerializer(many=True)
        note = serializers.CharField(allow_blank=True, required=False, default="")

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, analysis_id: int):
        """The AI's answer, the correction in force and its history, and the rubric's options."""
        analysis = visible_analysis(request.user, analysis_id)
        ai = ai_assessment(analysis)
        history = selectors.correction_history(analysis=analysis)
        dispute = selectors.open_dispute(analysis=analysis)
        return Response(
            {
                "analysis": analysis.pk,
                "status": analysis.status,
                "ai": ai.to_dict(),
                "correction": CorrectionOutSerializer(history.first()).data if history else None,
                "history": CorrectionOutSerializer(history, many=True).data,
                "dispute": {"reason": dispute.reason, "created_at": dispute.created_at}
                if dispute
                else None,
                "can_correct": selectors.reviewable_analyses(user=request.user)
                .filter(pk=analysis.pk)
                .exists(),
                "rubric": rubric_options(analysis.rubric_version),
            }
        )

    @extend_schema(request=CorrectionInSerializer, responses={201: CorrectionOutSerializer})
    def post(self, request, analysis_id: int):
        analysis = visible_analysis(request.user, analysis_id)
        if not selectors.reviewable_analyses(user=request.user).filter(pk=analysis.pk).exists():
            raise Http404("No analysis of yours to review.")
        data = self.CorrectionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        correction = correction_create(
            reviewer=request.user, analysis=analysis, **data.validated_data
        )
        return Response(CorrectionOutSerializer(correction).data, status=status.HTTP_201_CREATED)


class CorrectionConfirmApi(APIView):
    @extend_schema(request=None, responses={201: CorrectionOutSerializer})
    def post(self, request, analysis_id: int):
        analysis = visible_analysis(request.user, analysis_id)
        if not selectors.reviewable_analyses(user=request.user).filter(pk=analysis.pk).exists():
            raise Http404("No analysis of yours to review.")
        correction = correction_confirm(reviewer=request.user, analysis=analysis)
        return Response(CorrectionOutSerializer(correction).data, status=status.HTTP_201_CREATED)


class DisputeApi(APIView):
    class DisputeInSerializer(serializers.Serializer):
        reason = serializers.CharField()

    @extend_schema(request=DisputeInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, analysis_id: int):
        analysis = visible_analysis(request.user, analysis_id)
        if analysis.scan.owner_id != request.user.pk:
            raise Http404("Only your own scans can be disputed.")
        data = self.DisputeInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = dispute_open(resident=request.user, analysis=analysis, **data.validated_data)
        return Response({"id": dispute.pk, "status": dispute.status}, status=201)


class QueueApi(APIView):
    class QueueItemSerializer(serializers.Serializer):
        analysis = serializers.IntegerField(source="analysis.pk")
        scan = serializers.IntegerField(source="analysis.scan_id")
        resident = serializers.CharField(source="analysis.scan.owner.username")
        planes = serializers.ListField(child=serializers.CharField(), source="analysis.planes")
        score = serializers.FloatField(source="analysis.score", allow_null=True)
        grade = serializers.CharField(source="analysis.grade")
        reasons = serializers.ListField(child=serializers.CharField())
        dispute = serializers.CharField(source="dispute.reason", allow_null=True, default=None)

    @extend_schema(
        parameters=[OpenApiParameter("cohort", int)], responses=QueueItemSerializer(many=True)
    )
    def get(self, request):
        require_reviewer(request.user)
        items = selectors.review_queue(user=request.user, cohort=cohort_param(request))
        return Response(self.QueueItemSerializer(items, many=True).data)


def _rate(t) -> dict:
    return {
        "reviewed": t.reviewed,
        "confirm_rate": t.confirm_rate,
        "plane_agreement": t.plane_rate,
        "grade_agreement": t.grade_rate,
        "mean_abs_score_diff": t.mean_abs_score_diff,
    }


def agreement_json(a: selectors.Agreement) -> dict:
    return {
        "overall": _rate(a.overall),
        "by_plane": {k: _rate(v) for k, v in a.by_plane.items()},
        "by_item": {
            k: {"kept": v.kept, "removed": v.removed, "added": v.added, "agreement": v.agreement}
            for k, v in a.by_item.items()
        },
        "by_reviewer": {k: _rate(v) for k, v in a.by_reviewer.items()},
        "by_month": {k: _rate(v) for k, v in a.by_month.items()},
    }


class AgreementApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("cohort", int)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        require_reviewer(request.user)
        return Response(
            agreement_json(selectors.agreement(user=request.user, cohort=cohort_param(request)))
        )


class CorrectionsExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("cohort", int)],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        """Corrections in force as annotation JSONL for the next fine-tuning round (audited)."""
        require_reviewer(request.user)
        text = corrections_export(user=request.user, cohort=cohort_param(request))
        response = HttpResponse(text, content_type="application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="corrections.jsonl"'
        return response
