"""Progress over REST: self-assessment, practice assignments, a resident's plane table."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.selectors import visible_users
from abvlmq_web.progress.selectors.planes import resident_planes
from abvlmq_web.progress.selectors.self_assessment import self_assessment_accuracy
from abvlmq_web.progress.services import practice_assign, self_assessment_submit
from abvlmq_web.scans.selectors import visible_analysis


class SelfAssessmentApi(APIView):
    class SelfInSerializer(serializers.Serializer):
        planes = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        score = serializers.FloatField(required=False, allow_null=True, default=None)
        skipped = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=SelfInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, analysis_id: int):
        analysis = visible_analysis(request.user, analysis_id)
        if analysis.scan.owner_id != request.user.pk:
            raise Http404("Only your own scans.")
        data = self.SelfInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mine = self_assessment_submit(
            resident=request.user, analysis=analysis, **data.validated_data
        )
        return Response(
            {"planes": mine.planes, "score": mine.score, "skipped": mine.skipped},
            status=status.HTTP_201_CREATED,
        )


class PracticeApi(APIView):
    class PracticeInSerializer(serializers.Serializer):
        resident = serializers.IntegerField()
        plane = serializers.CharField()
        reason_item = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=PracticeInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = self.PracticeInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        resident = get_object_or_404(
            visible_users(user=request.user).filter(role="resident"),
            pk=data.validated_data["resident"],
        )
        p = practice_assign(
            user=request.user, resident=resident, plane=data.validated_data["plane"],
            reason_item=data.validated_data["reason_item"],
        )  # fmt: skip
        return Response(
            {"id": p.pk, "plane": p.plane, "scan_count": p.scan_count, "min_grade": p.min_grade},
            status=status.HTTP_201_CREATED,
        )


class ResidentProgressApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, resident_id: int):
        resident = get_object_or_404(
            visible_users(user=request.user).filter(role="resident"), pk=resident_id
        )
        acc = self_assessment_accuracy(resident=resident)
        return Response(
            {
                "resident": resident.username,
                "planes": [
                    {
                        "plane": p.plane,
                        "name": p.name,
                        "scans": p.count,
                        "best": p.best,
                        "median": p.median,
                        "last_grade": p.last_grade,
                        "level": p.level,
                        "scans_to_excellent": p.estimate.scans_to_excellent,
                        "estimate": p.estimate.note,
                        "decay": p.decay,
                        "scores": [
                            {"scan": pt.scan_id, "at": pt.at, "score": pt.score} for pt in p.points
                        ],
                    }
                    for p in resident_planes(resident=resident)
                ],
                "self_assessment": {
                    "count": acc.count,
                    "plane_agreement": acc.plane_rate,
                    "grade_agreement": acc.grade_rate,
                    "mean_abs_error": acc.mean_abs_error,
                    "bias": acc.bias,
                },
            }
        )
