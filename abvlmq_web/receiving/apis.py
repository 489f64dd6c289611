"""Receiving over HTTP: DICOMweb STOW-RS for PACS and gateways, the inbox (list, image, claim,
assign) and the resident's scanner names."""

from __future__ import annotations

import logging
from io import BytesIO

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.receiving import stow
from abvlmq_web.receiving.models import InboxEntry
from abvlmq_web.receiving.selectors import inbox_for, scanner_names_of
from abvlmq_web.receiving.services import (
    inbox_assign,
    inbox_claim,
    instance_receive,
    scan_dicom_export,
    scanner_name_add,
    scanner_name_remove,
)
from abvlmq_web.scans.selectors import scans_for
from scoring.imaging import IntakeError

log = logging.getLogger(__name__)
_RESOURCE_CODES = {"too_large", "too_many_pixels", "too_many_frames"}


class StowApi(APIView):
    """STOW-RS: store instances. A token of an instructor or program admin account (the one
    the gateway uses); each instance is matched and taken in as a C-STORE'd one is."""

    parser_classes = [stow.MultipartRelatedParser]
    renderer_classes = [stow.DicomJsonRenderer]

    @extend_schema(
        request={"multipart/related": OpenApiTypes.BINARY},
        responses={(200, "application/dicom+json"): OpenApiTypes.OBJECT},
    )
    def post(self, request):
        user = request.user
        if not is_reviewer(user):
            return Response(status=status.HTTP_403_FORBIDDEN)
        # Parsed here, not through request.data: DRF sees no body without a Content-Length,
        # and gateways (dicomweb-client above 1 MB) send chunked bodies.
        parts = stow.MultipartRelatedParser().parse(
            request._request, request.META.get("CONTENT_TYPE", "")
        )
        stored, failed = [], []
        for data in parts:
            sop = stow.sop_of(data)
            try:
                instance_receive(data=data, source=InboxEntry.Source.STOW_RS)
            except IntakeError as exc:
                reason = (
                    stow.OUT_OF_RESOURCES if exc.code in _RESOURCE_CODES else stow.CANNOT_UNDERSTAND
                )
                failed.append((*sop, reason))
                continue
            except Exception:
                log.exception("STOW-RS: could not take in an instance")
                failed.append((*sop, stow.PROCESSING_FAILURE))
                continue
            stored.append(sop)
        if not failed:
            code = status.HTTP_200_OK
        elif stored:
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_409_CONFLICT
        return Response(stow.store_response(stored, failed), status=code)


# --------------------------------------------------------------------------- the inbox


class InboxEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, entry) -> str:
        return reverse("api-inbox-image", kwargs={"entry_id": entry.pk})


class InboxListApi(APIView):
    @extend_schema(responses=InboxEntrySerializer(many=True))
    def get(self, request):
        return Response(InboxEntrySerializer(inbox_for(user=request.user), many=True).data)


class InboxImageApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, entry_id: int):
        entry = get_object_or_404(inbox_for(user=request.user), pk=entry_id)
        response = FileResponse(entry.scan.image.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        return response


class ClaimedSerializer(serializers.Serializer):
    scan = serializers.IntegerField(source="pk")
    owner = serializers.IntegerField(source="owner_id")


class InboxClaimApi(APIView):
    @extend_schema(request=None, responses=ClaimedSerializer)
    def post(self, request, entry_id: int):
        try:
            scan = inbox_claim(user=request.user, entry_id=entry_id)
        except PermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(ClaimedSerializer(scan).data)


class InboxAssignApi(APIView):
    class InputSerializer(serializers.Serializer):
        resident = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=ClaimedSerializer)
    def post(self, request, entry_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            scan = inbox_assign(
                user=request.user, entry_id=entry_id, resident_id=data.validated_data["resident"]
            )
        except PermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(ClaimedSerializer(scan).data)


# --------------------------------------------------------------------------- scanner names


class ScannerNameSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)


class ScannerNameListApi(APIView):
    @extend_schema(responses=ScannerNameSerializer(many=True))
    def get(self, request):
        names = scanner_names_of(resident=request.user)
        return Response(ScannerNameSerializer(names, many=True).data)

    @extend_schema(request=ScannerNameSerializer, responses={201: ScannerNameSerializer})
    def post(self, request):
        data = ScannerNameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            row = scanner_name_add(resident=request.user, name=data.validated_data["name"])
        except PermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(ScannerNameSerializer(row).data, status=status.HTTP_201_CREATED)


class ScannerNameDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, name_id: int):
        try:
            scanner_name_remove(resident=request.user, name_id=name_id)
        except Http404:
            return Response(status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- results as DICOM


def _dicom_response(ds, filename: str) -> HttpResponse:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    response = HttpResponse(buf.getvalue(), content_type="application/dicom")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ScanReportApi(APIView):
    """The assessment as a DICOM Comprehensive 3D SR referencing the de-identified image
    (``image.dcm``); 409 until the analysis has finished."""

    @extend_schema(responses={(200, "application/dicom"): OpenApiTypes.BINARY})
    def get(self, request, scan_id: int):
        scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
        try:
            _, sr = scan_dicom_export(scan=scan)
        except ValidationError as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
        return _dicom_response(sr, f"scan-{scan.pk}-report.dcm")


class ScanImageDicomApi(APIView):
    """The de-identified image as DICOM Secondary Capture: the instance the SR references."""

    @extend_schema(responses={(200, "application/dicom"): OpenApiTypes.BINARY})
    def get(self, request, scan_id: int):
        scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
        try:
            image, _ = scan_dicom_export(scan=scan)
        except ValidationError as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
        return _dicom_response(image, f"scan-{scan.pk}-image.dcm")
