"""Paging: ``limit`` (at most the page size) and ``offset``, with ``next``/``previous`` URLs.

Every endpoint orders by a unique tie-breaker last, so walking ``next`` returns each
visible row exactly once. One row past the page is fetched to learn whether there is a
next page, instead of counting.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet

from cdsapi.exceptions import InvalidRequest

PAGING_PARAMS = ("limit", "offset")


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next: str | None
    previous: str | None


def _integer(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: expected a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def paginate(rows: QuerySet, params: dict[str, str], request: Any) -> Page:
    size = settings.CDS_PAGE_SIZE
    limit = _integer(params, "limit", size, 1, size)
    offset = _integer(params, "offset", 0, 0, 10**12)
    fetched = list(rows[offset : offset + limit + 1])

    def link(new_offset: int) -> str:
        query = {**params, "offset": str(new_offset)}
        if new_offset == 0:
            del query["offset"]
        encoded = urlencode(query)
        return request.build_absolute_uri(request.path + (f"?{encoded}" if encoded else ""))

    return Page(
        rows=fetched[:limit],
        next=link(offset + limit) if len(fetched) > limit else None,
        previous=link(max(0, offset - limit)) if offset > 0 else None,
    )
