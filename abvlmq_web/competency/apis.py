"""Competency records over REST (JSON exports are written to the audit log) and sign-off."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.competency import exports, selectors
from abvlmq_web.competency.models import Requirement
from abvlmq_web.competency.services import export_cohort_json, signoff_create
from abvlmq_web.core.audit import audit_record


class CohortCompetencyApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, cohort_id: int):
        """The cohort's competency records as JSON (an export: audited)."""
        cohort = selectors.exportable_cohort(user=request.user, cohort_id=cohort_id)
        if cohort is None:
            raise Http404("No such cohort.")
        return Response(export_cohort_json(user=request.user, cohort=cohort))


class ResidentCompetencyApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, resident_id: int):
        resident = selectors.readable_resident(user=request.user, resident_id=resident_id)
        if resident is None:
            raise Http404("No such resident.")
        data = exports.resident_json(resident, selectors.resident_competency(resident=resident))
        audit_record(actor=request.user, action="export.json", subject=resident)
        return Response(data)


class SignOffApi(APIView):
    class SignOffInSerializer(serializers.Serializer):
        requirement = serializers.IntegerField()
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=SignOffInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, resident_id: int):
        resident = selectors.readable_resident(user=request.user, resident_id=resident_id)
        if resident is None or request.user.is_resident:
            raise Http404("No such resident.")
        data = self.SignOffInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        requirement = get_object_or_404(Requirement, pk=data.validated_data["requirement"])
        try:
            s = signoff_create(
                user=request.user, resident=resident, requirement=requirement,
                note=data.validated_data["note"],
            )  # fmt: skip
        except PermissionDenied as exc:
            raise Http404(str(exc)) from exc
        return Response(
            {"signed_by": s.signer_name, "signed_at": s.signed_at}, status=status.HTTP_201_CREATED
        )
