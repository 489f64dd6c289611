"""One DRF exception handler: a Django ``ValidationError`` raised by a service becomes a 400
with its messages (``{"field": [...]}``, or ``{"errors": [...]}`` when it names no field), so
API views call services without a ``try``. Everything else goes to DRF's own handler."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def validation_response(exc: ValidationError) -> Response:
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"errors": exc.messages}
    return Response(detail, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc, context):
    if isinstance(exc, ValidationError):
        return validation_response(exc)
    return drf_exception_handler(exc, context)
