"""Paging: ``limit`` (at most the page size) and ``offset``, with ``next``/``previous`` URLs.

Offsets count served items. Every endpoint orders by a unique tie-breaker last, so walking
``next`` returns each visible item exactly once. One item past the page is fetched to learn
whether there is a next page, instead of counting.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet

from cdsapi.api.exceptions import InvalidRequest

PAGING_PARAMS = ("limit", "offset")
RESUME_PARAMS = ("cursor",)  # positions a next link; never carried into another link


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next: str | None
    previous: str | None


@dataclass(frozen=True)
class Slice:
    """Which served items a request asks for: ``limit`` of them from ``offset``."""

    offset: int
    limit: int

    @classmethod
    def of(cls, params: dict[str, str]) -> "Slice":
        size = settings.CDS_PAGE_SIZE
        return cls(
            offset=_integer(params, "offset", 0, 0, 10**12),
            limit=_integer(params, "limit", size, 1, size),
        )

    def page(
        self,
        items: list[Any],
        has_next: bool,
        params: dict[str, str],
        request: Any,
        resume: dict[str, str] | None = None,
        back: dict[str, str] | None = None,
    ) -> Page:
        """A page of ``items`` (this slice's), with links to its neighbours; ``resume`` and
        ``back`` add parameters to the ``next`` and ``previous`` links that let the server
        pick up where those pages start (``back`` empty: the previous page is the first)."""
        base = {k: v for k, v in params.items() if k not in RESUME_PARAMS}

        def link(new_offset: int, extra: dict[str, str]) -> str:
            query = {**base, "offset": str(new_offset), **extra}
            if new_offset == 0:
                del query["offset"]
            encoded = urlencode(query)
            return request.build_absolute_uri(request.path + (f"?{encoded}" if encoded else ""))

        return Page(
            rows=items,
            next=link(self.offset + self.limit, resume or {}) if has_next else None,
            previous=(
                None
                if self.offset == 0
                else link(0, {})
                if back == {}
                else link(max(0, self.offset - self.limit), back or {})
            ),
        )


def _integer(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: expected a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def paginate(rows: QuerySet | Sequence[Any], params: dict[str, str], request: Any) -> Page:
    """One page of ``rows``, every one of which is served as one item."""
    window = Slice.of(params)
    fetched = list(rows[window.offset : window.offset + window.limit + 1])
    return window.page(fetched[: window.limit], len(fetched) > window.limit, params, request)
