"""A clip over REST: its timeline (each sampled frame's time, grade, score, result and
whether it was chosen), the clip itself (H.264 MP4, with byte ranges so players can seek) and
each sampled frame's de-identified image. Read through scans_for: outsiders get 404.

Self-assess first holds here as in the scan's API and socket: a resident who asked to give her
own score first, and has not yet, gets the timeline without any frame's score, grade,
confidence or result (``concealed`` true); the frames' times and images stay."""

from __future__ import annotations

import re

from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from abvlmq_web.cine.models import Clip, ClipFrame
from abvlmq_web.progress.selectors.self_assessment import score_concealed
from abvlmq_web.scans.selectors import scans_for

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _clip_for(user, scan_id: int) -> Clip:
    scan = get_object_or_404(scans_for(user=user), pk=scan_id)
    return get_object_or_404(Clip, scan=scan)


class ClipFrameSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    time = serializers.FloatField()
    score = serializers.FloatField(allow_null=True)
    grade = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField(allow_null=True)
    chosen = serializers.BooleanField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    result = serializers.JSONField(help_text="Assessment.to_dict() once assessed, else {}")
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, frame: ClipFrame) -> str:
        return reverse(
            "api-clip-frame", kwargs={"scan_id": frame.clip.scan_id, "index": frame.index}
        )


class ClipSerializer(serializers.Serializer):
    frames = serializers.IntegerField()
    fps = serializers.FloatField()
    duration = serializers.FloatField()
    video_url = serializers.SerializerMethodField()
    status = serializers.CharField(source="scan.analysis.status")
    sampled = ClipFrameSerializer(many=True)
    concealed = serializers.BooleanField(
        default=False,
        help_text="Self-assess first: the frames' scores, grades and results are kept back "
        "until the resident has given her own",
    )

    def get_video_url(self, clip: Clip) -> str:
        return reverse("api-clip-video", kwargs={"scan_id": clip.scan_id})


class ClipApi(APIView):
    @extend_schema(responses=ClipSerializer)
    def get(self, request, scan_id: int):
        clip = _clip_for(request.user, scan_id)
        data = ClipSerializer(clip).data
        data["concealed"] = score_concealed(user=request.user, analysis=clip.scan.analysis)
        if data["concealed"]:
            for frame in data["sampled"]:
                frame.update(score=None, grade="", confidence=None, result={})
        return Response(data)


class ClipVideoApi(APIView):
    @extend_schema(responses={(200, "video/mp4"): OpenApiTypes.BINARY})
    def get(self, request, scan_id: int):
        clip = _clip_for(request.user, scan_id)
        size = clip.video.size
        match = _RANGE.match(request.headers.get("Range", "").strip())
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]) if match[2] else size - 1, size - 1)
            else:  # a suffix: the last N bytes
                start, end = max(size - int(match[2]), 0), size - 1
            if start > end or start >= size:
                response = HttpResponse(status=416)
                response["Content-Range"] = f"bytes */{size}"
                return response
            with clip.video.open("rb") as fh:
                fh.seek(start)
                body = fh.read(end - start + 1)
            response = HttpResponse(body, status=206, content_type="video/mp4")
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        else:
            response = FileResponse(clip.video.open("rb"), content_type="video/mp4")
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ClipFrameImageApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, scan_id: int, index: int):
        clip = _clip_for(request.user, scan_id)
        frame = get_object_or_404(ClipFrame, clip=clip, index=index)
        response = FileResponse(frame.image.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
