"""Writing the access log: one row, one INSERT, for every Customer Data API request.

``CdsListView`` calls ``start`` as it begins and ``record`` once its response is final. The
row is written synchronously (nothing is buffered, so nothing is lost with the process);
if the write fails, the request is still answered and the failure is logged.
"""

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

from django.db import DatabaseError, connections, router
from django.utils import timezone

from accesslog.models import AccessLogEntry

logger = logging.getLogger(__name__)

API_PREFIX = "/cds-customerdata-api/v1/"
HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain; anything else gets a fresh one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}\Z")


def _insert(**values: Any) -> None:
    """One row, as ``AccessLogEntry.objects.create`` would write it (each value prepared by
    its field), with the INSERT written once instead of compiled on every request."""
    alias = router.db_for_write(AccessLogEntry)
    connection = connections[alias]
    meta = AccessLogEntry._meta
    fields = [meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    sql = _INSERTS.get((alias, tuple(values)))
    if sql is None:
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"
        _INSERTS[(alias, tuple(values))] = sql
    params = [
        f.get_db_prep_save(v, connection) for f, v in zip(fields, values.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


_INSERTS: dict[tuple[str, tuple[str, ...]], str] = {}


def start(request: Any) -> None:
    request.cds_log_started = time.perf_counter()
    request.cds_log_time = timezone.now()


def request_id(request: Any) -> str:
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


def safe_query(query_string: str, known: frozenset[str]) -> str:
    """The query string's parameters this endpoint takes (``known``), as sent; any other is
    left out, name and value (a token sent by mistake may hide under any name, or be one),
    and only counted. Both ``&`` and ``;`` separate, as some parsers read them."""
    if not query_string:
        return ""
    parts = [part for part in re.split(r"[&;]", query_string) if part]
    kept = [part for part in parts if unquote_plus(part.partition("=")[0]) in known]
    if len(kept) < len(parts):
        kept.append(f"[{len(parts) - len(kept)} other parameter(s) not logged]")
    return "&".join(kept).replace("\x00", "")


def record(
    request: Any,
    response: Any,
    served: Any,
    envelope: str | None,
    known_params: frozenset[str] = frozenset(),
) -> Any:
    """Log ``served`` (the response as sent; ``response`` is the DRF one it was made from)
    and echo the request id on it."""
    django_request = request._request
    if not django_request.path_info.startswith(API_PREFIX):
        return served
    if not getattr(served, "is_rendered", True):
        served.render()  # so the duration includes the body's serialization
    ident = request_id(request)
    served[HEADER] = ident
    # A token refused (expired, or its grant inactive) still names its client and grant.
    token = getattr(request, "_auth", None) or getattr(request, "cds_refused_token", None)
    grant = getattr(token, "cds_grant", None)
    application = getattr(token, "application", None)
    ok = 200 <= served.status_code < 300
    rows = 0
    data = getattr(response, "data", None)
    if ok and envelope and isinstance(data, dict) and isinstance(data.get(envelope), list):
        rows = len(data[envelope])
    started = getattr(request, "cds_log_started", None)
    now = time.perf_counter()
    try:
        _insert(
            time=getattr(request, "cds_log_time", None) or timezone.now(),
            client_id=getattr(application, "client_id", "") or "",
            grant_id=getattr(grant, "pk", "") or "",
            method=django_request.method[:8],
            endpoint=django_request.path_info[len(API_PREFIX) :][:100],
            query=safe_query(django_request.META.get("QUERY_STRING", ""), known_params)[:4000],
            status=served.status_code,
            rows=rows,
            duration_ms=round((now - started) * 1000, 3) if started is not None else 0.0,
            request_id=ident,
            accounts=" ".join(sorted(getattr(request, "cds_account_ids", ()))) if ok else "",
            # An admin preview (cdsapi.grants.preview) names who made it.
            staff_user=getattr(django_request, "cds_staff_user", "")[:150],
        )
    except DatabaseError as exc:
        # An outage was already logged once with its 503; one line per request is enough.
        level = logging.INFO if served.status_code == 503 else logging.WARNING
        logger.log(level, "access log: row for request %s not written: %s", ident, exc)
    return served
