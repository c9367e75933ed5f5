"""Serving usage segments within a grant.

What a client can see is a list of *served items*: a stored segment as it is, where a grant
window holds it whole; a piece of one trimmed to a window, where a window bound cuts it; or,
on an aggregated view, one calendar-period aggregate per series and period. Filters and
paging act on those items, never on the stored rows behind them (see ``usage.filters``):
a stored row that serves nothing leaves no trace, and a period's value never depends on
the query string.

Speed: stored value text is spliced into responses; aggregates use per-segment totals and
decode only the segments a period or window bound cuts, and only for the page served.
"""

import hashlib
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast, Collate
from simplejson import RawJSON

from cdsapi import enums, exactjson
from cdsapi.authorization_details import format_datetime
from cdsapi.pagination import Page, Slice
from usage.aggregation import (
    Accumulator,
    Calendar,
    Window,
    aggregate_formats,
    inside,
    reducer,
    step,
)
from usage.filters import ACCOUNT, ITEM, ROW
from usage.models import RELATED_ARRAYS, UsageSegment

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INTERVAL_COLUMNS = (
    "pk",
    "cds_usagesegment_id",
    "cds_created",
    "cds_modified",
    "cds_synced",
    "account_id",
    "account__cds_account_id",
    "segment_start",
    "segment_end",
    "interval",
    "values_json",
    "formats_json",
    "related_json",
)


def _binary(name: str) -> F | Collate:
    """A text column compared by code point, as Python compares strings (SQLite's default;
    PostgreSQL needs the "C" collation), so SQL order and in-memory merges agree."""
    return Collate(F(name), "C") if connection.vendor == "postgresql" else F(name)


def _order_key(account: str, start: datetime, modified: datetime, ident: str) -> tuple:
    """Served order: account, ``segment_start`` ascending, ``cds_modified`` descending, id."""
    return (account, start, -((modified - _EPOCH) // _MICROSECOND), ident)


def _count(row: dict[str, Any]) -> int:
    """How many value sets a stored segment holds (the import checks end = start + n x dt)."""
    return (row["segment_end"] - row["segment_start"]) // step(row["interval"])


def _any(conditions: list[Q]) -> Q:
    if any(not q for q in conditions):
        return Q()
    found = Q(pk__in=[])
    for q in conditions:
        found |= q
    return found


def _contained(window: Window) -> Q:
    q = Q()
    if window.start is not None:
        q &= Q(segment_start__gte=window.start)
    if window.end is not None:
        q &= Q(segment_end__lte=window.end)
    return q


class _Presenter:
    """What a page's segments share, worked out once: pruned reference arrays and formats
    (segments of one meter carry identical texts), visible bill sections, account numbers."""

    def __init__(self, policy: Any, related_texts: set[str]) -> None:
        self.policy = policy
        self.cache: dict[tuple[str, str], Any] = {}
        self.times: dict[datetime, str] = {}
        linked = {
            i
            for text in related_texts
            for i in exactjson.loads(text).get("related_billsections") or []
        }
        self.sections = policy.visible_sections(linked) or frozenset()

    def related(self, text: str) -> dict[str, list[str]]:
        """The six reference arrays, each cut to the ids the grant may show."""
        key = ("related", text)
        if key not in self.cache:
            stored = exactjson.loads(text)
            pruned = {}
            for name in RELATED_ARRAYS:
                ids = stored.get(name) or []
                if name == "related_billsections":
                    pruned[name] = [i for i in ids if i in self.sections]
                else:
                    pruned[name] = self.policy.prune(name, ids)
            self.cache[key] = pruned
        return self.cache[key]

    def formats(self, text: str) -> list[dict[str, Any]]:
        key = ("formats", text)
        if key not in self.cache:
            self.cache[key] = [self._format(f) for f in exactjson.loads(text)]
        return self.cache[key]

    def _format(self, fmt: dict[str, Any]) -> dict[str, Any]:
        fmt = dict(fmt)
        if "related_meterdevices" in fmt:
            fmt["related_meterdevices"] = self.policy.prune(
                "related_meterdevices", fmt["related_meterdevices"] or []
            )
        meter = fmt.get("related_meterdevice")
        if meter is not None and not self.policy.prune("related_meterdevices", [meter]):
            del fmt["related_meterdevice"]
        return fmt

    def text(self, kind: str, source: str) -> str:
        """The JSON text of the pruned related arrays (without braces) or of the formats."""
        key = (f"{kind}-text", source)
        if key not in self.cache:
            if kind == "related":
                self.cache[key] = exactjson.dumps(self.related(source))[1:-1]
            else:
                self.cache[key] = exactjson.dumps(self.formats(source))
        return self.cache[key]

    def time(self, moment: datetime) -> str:
        if moment not in self.times:
            self.times[moment] = format_datetime(moment)
        return self.times[moment]

    def head(self, ident: str, meta: dict[str, Any], account_pk: int) -> dict[str, Any]:
        head = {
            "cds_usagesegment_id": ident,
            "cds_created": self.time(meta["cds_created"]),
            "cds_modified": self.time(meta["cds_modified"]),
            "cds_synced": self.time(meta["cds_synced"]),
        }
        numbers = self.policy.account_numbers
        if account_pk in numbers:
            head["account_number"] = numbers[account_pk]
        return head


# -- intervals ------------------------------------------------------------------------------


@dataclass
class _Interval:
    """A served interval item: a stored row whole (``kept`` None) or trimmed to a window."""

    row: dict[str, Any]
    kept: range | None = None
    policy: Any = None

    @cached_property
    def bounds(self) -> tuple[datetime, datetime]:
        start = self.row["segment_start"]
        if self.kept is None:
            return start, self.row["segment_end"]
        dt = step(self.row["interval"])
        return start + self.kept.start * dt, start + self.kept.stop * dt

    @property
    def start(self) -> datetime:
        return self.bounds[0]

    @property
    def end(self) -> datetime:
        return self.bounds[1]

    @cached_property
    def ident(self) -> str:
        ident = self.row["cds_usagesegment_id"]
        if self.kept is None:
            return ident
        return f"{ident}~{format_datetime(self.start)}~{format_datetime(self.end)}"

    @cached_property
    def key(self) -> tuple:
        row = self.row
        return _order_key(
            row["account__cds_account_id"], self.start, row["cds_modified"], self.ident
        )

    def related(self) -> dict[str, list[str]]:
        return _Presenter(self.policy, {self.row["related_json"]}).related(self.row["related_json"])

    def formats(self) -> list[dict[str, Any]]:
        return _Presenter(self.policy, set()).formats(self.row["formats_json"])


def interval_page(rule: Any, filters: list[tuple[Any, Any]], params: dict, request: Any) -> Page:
    """One page of interval items, in served order.

    Rows a window holds whole are served as stored, so SQL filters and pages them. The few
    rows that cross a window bound are trimmed in memory (a row may serve a piece in each of
    two windows, or nothing at all) and merged into that order by their served keys.
    """
    window = Slice.of(params)
    base = rule.rows()
    for flt, value in filters:
        if flt.level in (ACCOUNT, ROW):
            base = flt.apply(base, value, rule)
    item_filters = [(flt, value) for flt, value in filters if flt.level == ITEM]

    pieces = [
        piece
        for piece in _pieces(rule, base)
        if all(flt.admits(piece, value, rule) for flt, value in item_filters)
    ]
    pieces.sort(key=lambda p: p.key)

    whole = base.filter(_any([_contained(w) for w in rule.windows]))
    for flt, value in item_filters:
        whole = flt.apply(whole, value, rule)
    order = (
        _binary("account__cds_account_id").asc(),
        "segment_start",
        "-cds_modified",
        _binary("cds_usagesegment_id").asc(),
    )
    # At most len(pieces) items come before the row at ``skip``, so it is served at or
    # before ``offset``; fetching len(pieces) + limit + 1 rows from there covers the page.
    skip = max(0, window.offset - len(pieces))
    wanted = len(pieces) + window.limit + 1
    fetched = [
        _Interval(row, policy=rule.policy)
        for row in whole.order_by(*order).values(*_INTERVAL_COLUMNS)[skip : skip + wanted]
    ]
    if not pieces:
        items = fetched[: window.limit]
        has_next = len(fetched) > window.limit
        return window.page(render_intervals(rule, items), has_next, params, request)
    if fetched and skip > 0:
        first = fetched[0].key
        position = skip + sum(1 for p in pieces if p.key < first)
        pieces = [p for p in pieces if p.key > first]
    elif fetched or skip == 0:
        position = 0
    else:
        return window.page([], False, params, request)
    if len(fetched) == wanted:
        # Rows past the last one fetched are unknown: pieces after it cannot be placed yet.
        last = fetched[-1].key
        pieces = [p for p in pieces if p.key < last]
    merged = sorted([*fetched, *pieces], key=lambda item: item.key)
    begin = window.offset - position
    items = merged[begin : begin + window.limit]
    has_next = len(merged) > begin + window.limit
    return window.page(render_intervals(rule, items), has_next, params, request)


def _pieces(rule: Any, rows: QuerySet) -> list[_Interval]:
    """The trimmed pieces of the rows that cross a window bound (rows a window holds whole
    are not pieces). Bounds are few, and each reads only the rows near it."""
    bounds = sorted({b for w in rule.windows for b in (w.start, w.end) if b is not None})
    if not bounds:
        return []
    longest = rule.longest
    crossing = _any(
        [Q(segment_start__lt=b, segment_end__gt=b, segment_start__gte=b - longest) for b in bounds]
    )
    found = []
    for row in rows.filter(crossing).values(*_INTERVAL_COLUMNS):
        start, end = row["segment_start"], row["segment_end"]
        for w in rule.windows:
            if w.contains(start, end) or not w.overlaps(start, end):
                continue
            kept = inside(start, row["interval"], _count(row), w)
            if kept:
                found.append(_Interval(row, kept, rule.policy))
    return found


def render_intervals(rule: Any, items: list[_Interval]) -> list[RawJSON]:
    """Items written straight to JSON text: stored values are spliced in, and the parts
    segments of one meter share are encoded once."""
    presenter = _Presenter(rule.policy, {item.row["related_json"] for item in items})
    rendered = []
    for item in items:
        row = item.row
        values = row["values_json"]
        if item.kept is not None:
            values = exactjson.dumps(exactjson.loads(values)[item.kept.start : item.kept.stop])
        head = exactjson.dumps(presenter.head(item.ident, row, row["account_id"]))[:-1]
        related = presenter.text("related", row["related_json"])
        formats = presenter.text("formats", row["formats_json"])
        times = (
            f'"segment_start":"{presenter.time(item.start)}",'
            f'"segment_end":"{presenter.time(item.end)}"'
        )
        rendered.append(
            RawJSON(
                f'{head},{related},{times},"interval":{row["interval"]},'
                f'"formats":{formats},"values":{values}}}'
            )
        )
    return rendered


# -- aggregates -------------------------------------------------------------------------------

_STAMPS = ("cds_created", "cds_modified", "cds_synced")


def _stamp(text: str) -> datetime:
    """A UTC timestamp as the database wrote it (``2025-01-01 07:00:00[.ffffff][+00]``)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class _Member:
    """A stored segment with value sets in one window: which, and where they start."""

    row: dict[str, Any]
    kept: range
    first: datetime  # start of the first kept value set
    last: datetime  # start of the last kept value set


@dataclass
class _Group:
    """The segments one aggregate series is built from: one account, one meter as the grant
    shows it, one timezone, one set of formats. Data from meters the grant hides is one series
    in ``CDS_TIMEZONE``: neither the meters nor their service points' zones are told apart."""

    order: int
    account: str
    account_pk: int
    meter: str
    calendar: Calendar
    formats_text: str
    formats: list[dict[str, Any]]
    kept_formats: list[dict[str, Any]]
    kept: list[int]
    windows: dict[int, list[_Member]] = field(default_factory=dict)

    @cached_property
    def starts(self) -> dict[int, list[datetime]]:
        return {n: [m.row["segment_start"] for m in ms] for n, ms in self.windows.items()}

    @cached_property
    def longest(self) -> timedelta:
        return max(
            m.row["segment_end"] - m.row["segment_start"]
            for ms in self.windows.values()
            for m in ms
        )

    def members(self, n: int, lo: datetime, hi: datetime) -> list[tuple[dict, range]]:
        """The value sets of window ``n`` that start in ``[lo, hi)``, per stored segment."""
        found = []
        members = self.windows[n]
        starts = self.starts[n]
        for member in members[bisect_left(starts, lo - self.longest) : bisect_left(starts, hi)]:
            if member.last < lo or member.first >= hi:
                continue
            start, dt = member.row["segment_start"], step(member.row["interval"])
            first = max(member.kept.start, -(-(lo - start) // dt))
            stop = min(member.kept.stop, -(-(hi - start) // dt))
            if first < stop:
                found.append((member.row, range(first, stop)))
        return found

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        """Every stored segment that serves something in this series."""
        return list({m.row["pk"]: m.row for ms in self.windows.values() for m in ms}.values())

    def ident(self, aggregation: str, lo: datetime, hi: datetime) -> str:
        key = (
            f"{self.account}|{self.meter}|{self.calendar.tz.key}|{self.formats_text}|"
            f"{aggregation}|{lo.isoformat()}|{hi.isoformat()}"
        )
        return "agg-" + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass
class _Aggregate:
    """One served aggregate: a series' period ``[start, end)`` (clipped to window ``n``)."""

    group: _Group
    n: int
    start: datetime
    end: datetime
    period_end: datetime
    aggregation: str
    presenter: _Presenter

    @cached_property
    def ident(self) -> str:
        return self.group.ident(self.aggregation, self.start, self.end)

    @cached_property
    def members(self) -> list[tuple[dict, range]]:
        return self.group.members(self.n, self.start, self.period_end)

    @cached_property
    def sources(self) -> list[dict[str, Any]]:
        """The rows its metadata and references come from: its members, or for a period
        without data, every row the series serves."""
        return [row for row, _ in self.members] or self.group.rows

    def related(self) -> dict[str, list[str]]:
        texts = dict.fromkeys(row["related_json"] for row in self.sources)
        result = {}
        for name in RELATED_ARRAYS:
            seen: dict[str, None] = {}
            for text in texts:
                seen.update(dict.fromkeys(self.presenter.related(text)[name]))
            result[name] = list(seen)
        return result

    def formats(self) -> list[dict[str, Any]]:
        return self.group.kept_formats


def aggregate_page(rule: Any, filters: list[tuple[Any, Any]], params: dict, request: Any) -> Page:
    """One page of calendar-period aggregates, ordered by account, period, series."""
    base = rule.rows()
    for flt, value in filters:
        if flt.level == ACCOUNT:
            base = flt.apply(base, value, rule)
    # The metadata timestamps come as database text: only their minimum or maximum is
    # served, texts from one database compare like the instants they stand for, and parsing
    # 3 x 730 of them into datetimes was half the time of two years of monthly aggregates.
    light = list(
        base.values(
            "pk",
            "account_id",
            "meter_id",
            "account__cds_account_id",
            "meter__cds_meterdevice_id",
            "segment_start",
            "segment_end",
            "interval",
            "totals_json",
            "formats_json",
            "related_json",
            **{f"{name}_text": Cast(name, CharField()) for name in _STAMPS},
        ).order_by("segment_start", "pk")
    )
    presenter = _Presenter(rule.policy, {row["related_json"] for row in light})
    groups = _groups(rule, light, presenter)
    aggregates = [
        _Aggregate(group, n, lo, hi, period_end, rule.aggregation, presenter)
        for group in groups
        for n in group.windows
        for lo, hi, period_end in _periods(group, n, rule.windows[n])
    ]
    aggregates.sort(key=lambda a: (a.group.account, a.start, a.group.order))
    for flt, value in filters:
        if flt.level != ACCOUNT:
            aggregates = [a for a in aggregates if flt.admits(a, value, rule)]
    window = Slice.of(params)
    page = aggregates[window.offset : window.offset + window.limit]
    has_next = len(aggregates) > window.offset + window.limit
    return window.page(_build(page, presenter), has_next, params, request)


def _groups(rule: Any, rows: list[dict[str, Any]], presenter: _Presenter) -> list[_Group]:
    """The series the served rows fall into; rows that serve nothing join none."""
    visible_meters = rule.policy.visible_ids["related_meterdevices"]
    found: dict[tuple, _Group] = {}
    for row in rows:
        start, end = row["segment_start"], row["segment_end"]
        count = row["count"] = _count(row)
        dt = step(row["interval"])
        served = []
        for n, w in enumerate(rule.windows):
            kept = inside(start, row["interval"], count, w) if w.overlaps(start, end) else None
            if kept:
                first, last = start + kept.start * dt, start + (kept.stop - 1) * dt
                served.append((n, _Member(row, kept, first, last)))
        if not served:
            continue
        meter = row["meter__cds_meterdevice_id"] or ""
        zone = ""
        if not meter or meter in visible_meters:
            known = rule.series.get((row["account_id"], row["meter_id"]))
            zone = known.timezone if known else ""
        else:
            meter = ""  # a hidden meter, and its service point's timezone, are never told
        zone = zone or settings.CDS_TIMEZONE
        formats_text = presenter.text("formats", row["formats_json"])
        key = (row["account__cds_account_id"], meter, zone, formats_text)
        group = found.get(key)
        if group is None:
            formats = presenter.formats(row["formats_json"])
            kept_formats, kept = aggregate_formats(formats, rule.aggregation)
            group = found[key] = _Group(
                0,
                row["account__cds_account_id"],
                row["account_id"],
                meter,
                Calendar(rule.aggregation, zone),
                formats_text,
                formats,
                kept_formats,
                kept,
            )
        for n, member in served:
            group.windows.setdefault(n, []).append(member)
    ordered = [found[key] for key in sorted(found)]
    for order, group in enumerate(ordered):
        group.order = order
    # A series of readings or supply mix only has nothing to aggregate.
    return [group for group in ordered if group.kept]


def _periods(group: _Group, n: int, window: Window) -> list[tuple[datetime, datetime, datetime]]:
    """The periods from the first served value set of window ``n`` to its last (a period
    inside that span without data is served too, as null): each clipped to the window, and
    the end of the whole period, since value sets belong to the period they start in."""
    members = group.windows[n]
    first = min(m.first for m in members)
    last = max(m.last for m in members)
    return [
        (max(lo, window.start or lo), min(hi, window.end or hi), hi)
        for lo, hi in group.calendar.periods(first, last + _MICROSECOND)
    ]


def _build(aggregates: list[_Aggregate], presenter: _Presenter) -> list[dict[str, Any]]:
    """The page's aggregates: totals for segments a period takes whole, value sets (one query
    for all of them) for segments it takes in part."""
    cut = {
        row["pk"] for a in aggregates for row, indexes in a.members if len(indexes) != row["count"]
    }
    stored = dict(UsageSegment.objects.filter(pk__in=cut).values_list("pk", "values_json"))
    decoded: dict[int, list] = {}
    items = []
    for a in aggregates:
        group = a.group
        keys = [enums.VALUE_KEYS[group.formats[k]["type"]] for k in group.kept]
        total = Accumulator([reducer(group.formats[k]) for k in group.kept])
        for row, indexes in a.members:
            if row["pk"] in cut:
                if row["pk"] not in decoded:
                    decoded[row["pk"]] = exactjson.loads(stored[row["pk"]])
                values = decoded[row["pk"]]
                for i in indexes:
                    for position, k in enumerate(group.kept):
                        if values[i][k] is not None:
                            total.add(position, values[i][k][keys[position]])
            else:
                sums = exactjson.loads(row["totals_json"])
                for position, k in enumerate(group.kept):
                    total.add(position, sums[k][0])
        sources = a.sources
        meta = {
            "cds_created": _stamp(min(r["cds_created_text"] for r in sources)),
            "cds_modified": _stamp(max(r["cds_modified_text"] for r in sources)),
            "cds_synced": _stamp(max(r["cds_synced_text"] for r in sources)),
        }
        item = presenter.head(a.ident, meta, group.account_pk)
        item.update(a.related())
        item["segment_start"] = format_datetime(a.start)
        item["segment_end"] = format_datetime(a.end)
        item["interval"] = Decimal(int((a.end - a.start).total_seconds()))
        item["formats"] = group.kept_formats
        item["values"] = [
            [None if value is None else {keys[p]: value} for p, value in enumerate(total.values)]
        ]
        items.append(item)
    return items
