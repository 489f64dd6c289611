"""Assignments: list and read (everyone in the cohort), create (its instructors, admins)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.curriculum.services import assignment_create
from abvlmq_web.progress.selectors.assignments import assignment_progress


class AssignmentOutputSerializer(serializers.Serializer):
    class AssignmentProgressSerializer(serializers.Serializer):
        submitted = serializers.IntegerField()
        passed = serializers.IntegerField()
        required = serializers.IntegerField()
        complete = serializers.BooleanField()

    id = serializers.IntegerField()
    cohort = serializers.IntegerField(source="cohort_id")
    cohort_name = serializers.CharField(source="cohort.name")
    title = serializers.CharField()
    instructions = serializers.CharField()
    target_planes = serializers.ListField(child=serializers.CharField())
    scan_count = serializers.IntegerField()
    min_grade = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    progress = AssignmentProgressSerializer(
        allow_null=True, help_text="The resident's own progress"
    )


def _output(assignment, user) -> dict:
    progress = (
        assignment_progress(assignment=assignment, resident=user) if user.is_resident else None
    )
    fields = ("id", "cohort_id", "cohort", "title", "instructions", "target_planes")
    fields += ("scan_count", "min_grade", "due_date")
    data = {f: getattr(assignment, f) for f in fields}
    return AssignmentOutputSerializer({**data, "progress": progress}).data


class AssignmentListApi(APIView):
    class AssignmentInputSerializer(serializers.Serializer):
        cohort = serializers.IntegerField()
        title = serializers.CharField(max_length=200)
        instructions = serializers.CharField(required=False, allow_blank=True, default="")
        target_planes = serializers.ListField(child=serializers.CharField(), min_length=1)
        scan_count = serializers.IntegerField(min_value=1, default=1)
        min_grade = serializers.CharField()
        due_date = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(responses=AssignmentOutputSerializer(many=True))
    def get(self, request):
        assignments = assignments_for(user=request.user)
        return Response([_output(a, request.user) for a in assignments])

    @extend_schema(request=AssignmentInputSerializer, responses={201: AssignmentOutputSerializer})
    def post(self, request):
        serializer = self.AssignmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        cohort = visible_cohorts(user=request.user).filter(pk=data.pop("cohort")).first()
        if cohort is None:
            raise ValidationError({"cohort": ["No such cohort."]})
        try:
            assignment = assignment_create(created_by=request.user, cohort=cohort, **data)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(_output(assignment, request.user), status=status.HTTP_201_CREATED)


class AssignmentDetailApi(APIView):
    @extend_schema(responses=AssignmentOutputSerializer)
    def get(self, request, assignment_id: int):
        assignment = get_object_or_404(assignments_for(user=request.user), pk=assignment_id)
        return Response(_output(assignment, request.user))
