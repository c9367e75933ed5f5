"""Liveness and readiness probes for load balancers and orchestrators."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from cdsapi.api.exceptions import RETRY_AFTER_SECONDS

logger = logging.getLogger("cdsapi.health")


@csrf_exempt
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
def readyz(request: HttpRequest) -> JsonResponse:
    """The database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # The reason (host, port, error text) is for the operator's log, not the public.
        logger.warning(
            "readyz: database unavailable: %s", (str(exc).strip().splitlines() or [""])[0]
        )
        response = JsonResponse({"status": "unavailable"}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    return JsonResponse({"status": "ok"})
