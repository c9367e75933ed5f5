"""Usage segment filters act on what is served, never on stored rows the client cannot see.

A served item is a stored segment as it is, a piece of one trimmed to a grant window, or an
aggregate of many. Each filter says how far it may narrow *stored* rows without changing what
any served item holds (its ``level``), and how it tests a served item (``admits``):

- ``ACCOUNT``: depends only on the item's account, so stored rows may always be narrowed;
- ``ROW``: depends on a row's reference arrays, which every trimmed piece of the row keeps,
  so intervals may narrow stored rows, but an aggregate (whose arrays are a union) may not;
- ``ITEM``: depends on the served id or bounds, so the SQL form is exact only for rows that
  are served whole; pieces and aggregates are tested one by one.
"""

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from django.db.models import Q, QuerySet

from cdsapi import exactjson
from cdsapi.api.filters import (
    AccountFieldList,
    DateTimeBound,
    Filter,
    IdList,
    parse_list,
)

ACCOUNT, ROW, ITEM = "account", "row", "item"


class Served(Protocol):
    """What a filter may look at on a served item."""

    ident: str
    start: datetime
    end: datetime


class ServedAggregate(Served, Protocol):
    """An aggregate also shows the union of its segments' references (row-level filters
    test those; on intervals they narrow the stored rows instead, see above)."""

    def related(self) -> dict[str, list[str]]: ...

    def formats(self) -> list[dict[str, Any]]: ...


class UsageFilter(Filter):
    level: ClassVar[str]

    @abstractmethod
    def admits(self, item: Served, value: Any, rule: Any) -> bool: ...


class AccountLevel(UsageFilter):
    """A filter on the item's account: it narrows the stored rows every item comes from, so
    an item that reaches it has passed."""

    level: ClassVar[str] = ACCOUNT

    def admits(self, item: Served, value: Any, rule: Any) -> bool:
        return True


@dataclass(frozen=True)
class SegmentIds(IdList, UsageFilter):
    """``cds_usagesegment_ids``: only ids the server serves match, trimmed and aggregate ids
    included; a made-up id matches nothing."""

    level: ClassVar[str] = ITEM

    def admits(self, item: Served, value: list[str], rule: Any) -> bool:
        return item.ident in value


@dataclass(frozen=True)
class Before(DateTimeBound, UsageFilter):
    """``before``: served ``segment_start`` at or before the instant."""

    level: ClassVar[str] = ITEM

    def admits(self, item: Served, value: datetime, rule: Any) -> bool:
        return item.start <= value


@dataclass(frozen=True)
class After(DateTimeBound, UsageFilter):
    """``after``: served ``segment_end`` at or after the instant."""

    level: ClassVar[str] = ITEM

    def admits(self, item: Served, value: datetime, rule: Any) -> bool:
        return item.end >= value


def _format_meters(formats: Iterable[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for fmt in formats:
        if fmt.get("related_meterdevice") is not None:
            found.add(fmt["related_meterdevice"])
        found.update(fmt.get("related_meterdevices") or ())
    return found


@dataclass(frozen=True)
class RelatedIds(UsageFilter):
    """``cds_account_ids``, ``cds_meterdevice_ids``...: items whose served ``array`` (the
    stored one cut to what the grant shows) names one of the ids. Meters named by a format
    count too. Internal links are never consulted."""

    param: str
    array: str
    level: ClassVar[str] = ROW

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def named(self, related: dict[str, list[str]], formats: list[dict[str, Any]]) -> set[str]:
        """The ids an item with these served arrays and formats names for this filter."""
        shown = set(related.get(self.array) or ())
        if self.array == "related_meterdevices":
            shown |= _format_meters(formats)
        return shown

    def wanted(self, rule: Any, value: list[str]) -> frozenset[str]:
        """The ids to look for: those asked for that the served array may show."""
        return rule.policy.shown(self.array, value)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        """Rows whose stored arrays hold a wanted id the grant shows. Segments share few
        distinct reference texts, so the match is worked out per text, then applied in SQL."""
        wanted = self.wanted(rule, value)
        if not wanted:
            return rows.none()
        texts = rows.order_by().values_list("related_json", "formats_json").distinct()
        related, formats = set(), set()
        for related_text, formats_text in texts:
            stored = exactjson.loads(related_text)
            if wanted & set(stored.get(self.array) or ()):
                related.add(related_text)
            if self.array == "related_meterdevices" and wanted & _format_meters(
                exactjson.loads(formats_text)
            ):
                formats.add(formats_text)
        return rows.filter(Q(related_json__in=related) | Q(formats_json__in=formats))

    def admits(self, item: ServedAggregate, value: list[str], rule: Any) -> bool:
        return self.matches(item, self.wanted(rule, value))

    def matches(self, item: ServedAggregate, wanted: frozenset[str]) -> bool:
        """Whether the item names one of ``wanted`` (``wanted``'s ids, resolved once)."""
        return not self.named(item.related(), item.formats()).isdisjoint(wanted)


@dataclass(frozen=True)
class AccountNumbers(AccountFieldList, AccountLevel):
    """``account_numbers``: the number an item shows is its account's, as the grant shows it."""


@dataclass(frozen=True)
class NumberIds(RelatedIds):
    """``contract_numbers``, ``meter_numbers``...: items whose served ``array`` names a visible
    object whose ``field`` is one of the numbers; 403 unless the grant shows that field."""

    param: str
    array: str
    kind: str
    field: str

    def wanted(self, rule: Any, value: list[str]) -> frozenset[str]:
        ids = rule.policy.ids_with(self.kind, self.field, value)
        return rule.policy.shown(self.array, ids)
