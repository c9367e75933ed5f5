"""Every error the API returns is JSON ``{"error", "error_description"}`` with an OAuth code
(RFC 6749 / RFC 6750): never an HTML page, never a bare 500."""

import logging
import math
from typing import Any

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db import DatabaseError, DataError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("cdsapi.api")
RETRY_AFTER_SECONDS = 5


class TemporarilyUnavailable(Exception):
    """Something the API needs on every request cannot answer now (HTTP 503, retryable);
    whoever raises it has logged why."""


class InsufficientScope(Exception):
    """The token's grant does not reach this resource or field (HTTP 403)."""


class InvalidRequest(exceptions.APIException):
    """A malformed query parameter (HTTP 400 ``invalid_request``)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_request"


def _body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def unreadable(exc: SuspiciousOperation) -> str:
    """What was wrong with a request Django refused to read, in the client's terms."""
    if isinstance(exc, RequestDataTooBig):
        return "the request body is too large"
    if isinstance(exc, TooManyFieldsSent):
        return "the request has too many fields"
    return "the request cannot be read (a malformed %-escape or encoding)"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler, rewritten to OAuth error bodies."""
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context["request"]
        oauth2_error = getattr(request, "oauth2_error", None) or {}
        sent_bearer = request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer ")
        description = str(oauth2_error.get("error_description") or "") or (
            "the access token is unknown, expired or revoked"
            if sent_bearer
            else "no bearer token was sent (Authorization: Bearer <token>)"
        )
        headers["WWW-Authenticate"] = (
            f'Bearer realm="cdsapi", error="invalid_token", error_description="{description}"'
        )
        return Response(_body("invalid_token", description), status=401, headers=headers)
    if isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = (
            f'Bearer realm="cdsapi", error="insufficient_scope", error_description="{exc}"'
        )
        return Response(_body("insufficient_scope", str(exc)), status=403, headers=headers)
    if isinstance(exc, InvalidRequest | exceptions.ParseError | exceptions.ValidationError):
        return Response(_body("invalid_request", str(exc.detail)), status=400)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(_body("not_found", "no such resource"), status=404)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(_body("invalid_request", str(exc.detail)), status=405)
    if isinstance(exc, exceptions.Throttled):
        # A rate limit (cdsapi.api.throttling): retry when its window ends.
        if exc.wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        return Response(_body("slow_down", str(exc.detail)), status=429, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response(_body("invalid_request", str(exc.detail)), status=exc.status_code)
    if isinstance(exc, SuspiciousOperation):
        # e.g. a malformed percent-escape, met when the query string is first parsed
        return Response(_body("invalid_request", unreadable(exc)), 400)
    if isinstance(exc, DataError):
        # Not an outage: a value the database refuses to store or compare (PostgreSQL: NUL).
        return Response(_body("invalid_request", UNSTORABLE), 400)
    if isinstance(exc, DatabaseError | TemporarilyUnavailable):
        # An outage: one line per request (no traceback), and a retryable answer.
        if isinstance(exc, DatabaseError):
            request = context["request"]
            logger.warning("database unavailable at %s: %s", request.path, type(exc).__name__)
        response = Response(
            _body("temporarily_unavailable", "the service is temporarily unavailable; retry"),
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        response._has_been_logged = True  # Django's request log would add a second line
        return response
    logger.exception("unhandled error in %s", context.get("view"))
    response = Response(_body("server_error", "internal error; it has been logged"), status=500)
    response._has_been_logged = True  # its traceback, once: not again by django.request
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(_body("not_found", f"no such resource: {request.path}"), status=404)


UNSTORABLE = "a value this server cannot read, such as one with a NUL character"


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_body("server_error", "internal error; it has been logged"), status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(_body("invalid_request", "bad request"), status=400)
