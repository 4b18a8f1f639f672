"""Pieces every API view shares: body limits and error answers."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser


class LimitedJSONParser(JSONParser):
    """JSON parser that refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        if declared > limit:
            raise ParseError(f"The request body is larger than {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(_BytesStream(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("The JSON body is nested too deeply.") from None


class _BytesStream:
    def __init__(self, data: bytes):
        self._data = data

    def read(self, *args) -> bytes:
        data, self._data = self._data, b""
        return data


class Conflict(APIException):
    """The request is valid but refused in the object's current state."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def exception_handler(exc, context):
    """DRF's handler, plus JSON answers for Django errors a view can meet.

    Without it an oversized body or a malformed id would answer with an
    HTML page instead of the API's JSON.
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = ParseError(f"The request body is larger than {limit} bytes.")
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = ValidationError(detail)
    # Imported here: rest_framework.views reads the settings that name
    # this module, so a top-level import would be circular.
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)
