"""Rubric versions and the model registry over REST (program admins; 404 for others)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.administration import selectors
from abvlmq_web.administration.models import ModelVersion, RubricVersion
from abvlmq_web.administration.services import (
    model_activate,
    model_register,
    rubric_version_activate,
    rubric_version_create,
)
from abvlmq_web.core.permissions import require_program_admin


class RubricOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    name = serializers.CharField()
    note = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)


class ModelOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_path = serializers.CharField()
    adapter_path = serializers.CharField()
    evaluation_report = serializers.JSONField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)


class RubricListApi(APIView):
    class RubricInSerializer(serializers.Serializer):
        text = serializers.CharField(help_text="The rubric YAML")
        note = serializers.CharField(required=False, allow_blank=True, default="")
        name = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Shown beside the version"
        )

    @extend_schema(responses=RubricOutSerializer(many=True))
    def get(self, request):
        require_program_admin(request.user)
        return Response(RubricOutSerializer(selectors.rubric_versions(), many=True).data)

    @extend_schema(request=RubricInSerializer, responses={201: RubricOutSerializer})
    def post(self, request):
        require_program_admin(request.user)
        data = self.RubricInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = rubric_version_create(user=request.user, **data.validated_data)
        return Response(RubricOutSerializer(row).data, status=status.HTTP_201_CREATED)


class RubricDetailApi(APIView):
    class RubricDetailSerializer(RubricOutSerializer):
        text = serializers.CharField()
        diff_against = serializers.CharField()
        changes = serializers.ListField(child=serializers.CharField())
        diff = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=RubricDetailSerializer)
    def get(self, request, rubric_id: int):
        """The version, and how it differs from the active rubric."""
        require_program_admin(request.user)
        row = get_object_or_404(RubricVersion, pk=rubric_id)
        diff = selectors.rubric_diff(rubric_version=row)
        data = {
            **RubricOutSerializer(row).data,
            "text": row.text,
            "diff_against": diff.against,
            "changes": diff.changes,
            "diff": diff.lines,
        }
        return Response(self.RubricDetailSerializer(data).data)


class RubricActivateApi(APIView):
    @extend_schema(request=None, responses=RubricOutSerializer)
    def post(self, request, rubric_id: int):
        require_program_admin(request.user)
        row = get_object_or_404(RubricVersion, pk=rubric_id)
        return Response(
            RubricOutSerializer(rubric_version_activate(user=request.user, rubric_version=row)).data
        )


class ModelListApi(APIView):
    class ModelInSerializer(serializers.Serializer):
        name = serializers.CharField()
        base_path = serializers.CharField()
        adapter_path = serializers.CharField(required=False, allow_blank=True, default="")
        evaluation_report = serializers.JSONField(required=False, default=dict)
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=ModelOutSerializer(many=True))
    def get(self, request):
        require_program_admin(request.user)
        return Response(ModelOutSerializer(selectors.model_versions(), many=True).data)

    @extend_schema(request=ModelInSerializer, responses={201: ModelOutSerializer})
    def post(self, request):
        require_program_admin(request.user)
        data = self.ModelInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_register(user=request.user, **data.validated_data)
        return Response(ModelOutSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelActivateApi(APIView):
    @extend_schema(request=None, responses=ModelOutSerializer)
    def post(self, request, model_id: int):
        require_program_admin(request.user)
        model = get_object_or_404(ModelVersion, pk=model_id)
        return Response(ModelOutSerializer(model_activate(user=request.user, model=model)).data)
