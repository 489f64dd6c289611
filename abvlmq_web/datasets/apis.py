"""Dataset versions and training runs over REST (program admins; 404 for others)."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.datasets import selectors
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from abvlmq_web.datasets.services import DEFAULT_SEED, version_freeze, version_zip
from abvlmq_web.datasets.training import RECIPES, run_cancel, run_start


class VersionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_hash = serializers.CharField()
    seed = serializers.IntegerField()
    counts = serializers.JSONField()
    campaigns = serializers.JSONField()
    rubric_version = serializers.CharField()
    created_at = serializers.DateTimeField()


class VersionListApi(APIView):
    class VersionInSerializer(serializers.Serializer):
        name = serializers.CharField()
        campaigns = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
        seed = serializers.IntegerField(required=False, default=DEFAULT_SEED)
        scans = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            help_text="Only these scans (each must have a final record in the campaigns)",
        )

    @extend_schema(responses=VersionOutSerializer(many=True))
    def get(self, request):
        require_program_admin(request.user)
        return Response(VersionOutSerializer(selectors.versions(), many=True).data)

    @extend_schema(request=VersionInSerializer, responses={201: VersionOutSerializer})
    def post(self, request):
        require_program_admin(request.user)
        data = self.VersionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        version = version_freeze(
            user=request.user, name=v["name"], campaign_ids=v["campaigns"], seed=v["seed"],
            scan_ids=v.get("scans"),
        )  # fmt: skip
        return Response(VersionOutSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    class VersionDetailSerializer(VersionOutSerializer):
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=VersionDetailSerializer)
    def get(self, request, version_id: int):
        require_program_admin(request.user)
        version = get_object_or_404(DatasetVersion, pk=version_id)
        data = VersionOutSerializer(version).data
        data["items"] = list(version.items.values("scan_id", "split", "plane_key", "campaign_id"))
        return Response(data)


class VersionExportApi(APIView):
    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, version_id: int):
        require_program_admin(request.user)
        version = get_object_or_404(DatasetVersion, pk=version_id)
        path = version_zip(version)
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


class RunOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    finished = serializers.BooleanField()
    recipe = serializers.CharField()
    version = serializers.CharField()
    budget_min = serializers.FloatField(allow_null=True)
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField(allow_null=True)
    progress = serializers.FloatField()
    elapsed_s = serializers.FloatField()
    seconds_left = serializers.FloatField(allow_null=True)
    loss = serializers.FloatField(allow_null=True)
    loss_history = serializers.JSONField()
    attempts = serializers.IntegerField()
    log_tail = serializers.CharField()
    failure_reason = serializers.CharField()
    evaluation = serializers.JSONField()
    model = serializers.JSONField(allow_null=True)


class RunListApi(APIView):
    class RunInSerializer(serializers.Serializer):
        recipe = serializers.ChoiceField(choices=list(RECIPES))
        budget_min = serializers.FloatField(required=False, allow_null=True, default=None)
        base_path = serializers.CharField(required=False, allow_blank=True, default="")
        overrides = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="key=value lines"
        )

    @extend_schema(request=RunInSerializer, responses={201: RunOutSerializer})
    def post(self, request, version_id: int):
        require_program_admin(request.user)
        version = get_object_or_404(DatasetVersion, pk=version_id)
        data = self.RunInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_start(user=request.user, version=version, **data.validated_data)
        return Response(selectors.run_payload(run), status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    @extend_schema(responses=RunOutSerializer)
    def get(self, request, run_id: int):
        require_program_admin(request.user)
        run = get_object_or_404(selectors.runs(), pk=run_id)
        return Response(selectors.run_payload(run))


class RunCancelApi(APIView):
    @extend_schema(request=None, responses=RunOutSerializer)
    def post(self, request, run_id: int):
        require_program_admin(request.user)
        run = run_cancel(user=request.user, run=get_object_or_404(TrainingRun, pk=run_id))
        return Response(selectors.run_payload(run))
