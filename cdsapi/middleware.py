"""Request-wide middleware that is not the API's business: probes, the request log, gzip for
the APIs, the admin's timezone."""

import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.gzip import GZipMiddleware
from django.utils import timezone

from accesslog import log as access_log
from cdsapi import health
from cdsapi.api.exceptions import UNSTORABLE
from cdsapi.logs import current_request_id

logger = logging.getLogger("cdsapi.request")


class AdminTimezone:
    """The admin shows times in the utility's zone (``CDS_TIMEZONE``), as its staff read
    them; everything stored and served stays UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.zone = ZoneInfo(settings.CDS_TIMEZONE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        with timezone.override(self.zone):
            return self.get_response(request)


class HealthChecks:
    """``/healthz`` and ``/readyz``, answered first: before host validation (probes send the
    pod's address as ``Host``), before the HTTPS redirect (they speak plain HTTP to the
    pod), and never in the request log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.probes: dict[str, Callable[[HttpRequest], HttpResponse]] = {
            "/healthz": health.healthz,
            "/readyz": health.readyz,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        response = probe(request)
        # As CommonMiddleware would: HEAD then gets GET's headers (and no chunked body).
        response.setdefault("Content-Length", str(len(response.content)))
        return response


def _printable(text: str, limit: int) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


class HeadWithoutBody:
    """A ``HEAD`` answer is ``GET``'s headers without its body (RFC 9110 §9.3.2). Django's
    views render the body and its WSGI handler sends it; the test client and runserver drop
    it, gunicorn warns. Outermost, so ``Content-Length`` and ``Content-Encoding`` are the ones
    ``GET`` gets, the probes' included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            length = response.get("Content-Length")
            response.content = b""
            if length is not None:
                response["Content-Length"] = length
        return response


class RequestLog:
    """One log line per request (``cdsapi.request``, INFO): method, path, status, duration
    and the request id, which every record logged while the request is served carries too
    (``cdsapi.logs``) and the response echoes as ``X-Request-ID``. The id is the client's
    ``X-Request-ID`` if it is short and plain, else a fresh one (``accesslog.log``'s rule;
    the access log row gets the same id). Never the query string or any header: they can
    carry tokens."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ident = access_log.request_id(request)
        # Where accesslog.log.request_id finds it again: one id for the log and the row.
        request.META["HTTP_X_REQUEST_ID"] = ident
        context = current_request_id.set(ident)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            response.setdefault(access_log.HEADER, ident)
            method = _printable(request.method or "", 16)
            path = _printable(request.path, 500)
            logger.info(
                "%s %s %s %.1fms",
                method,
                path,
                response.status_code,
                duration_ms,
                extra={
                    "method": method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "request_id": ident,
                },
            )
            return response
        finally:
            current_request_id.reset(context)


class ApiGZip(GZipMiddleware):
    """gzip for the Customer Data and Grants APIs only. Never for the other pages: those
    that show a secret or token once (the admin's, the consent flow's) must not be
    compressed alongside text an attacker can choose (BREACH)."""

    prefixes = ("/cds-customerdata-api/", "/cds-api/")

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not request.path_info.startswith(self.prefixes):
            return response
        return super().process_response(request, response)


class UnstorableInput:
    """A value the database refuses (PostgreSQL: a NUL character in text), met by a page
    outside the APIs (consent, receipts): a 400 naming it, not a 500. The APIs answer the
    same in their own error handlers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DataError):
            body = {"error": "invalid_request", "error_description": UNSTORABLE}
            return JsonResponse(body, status=400)
        return None
