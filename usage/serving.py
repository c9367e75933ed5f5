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
import heapq
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property, partial, reduce
from itertools import islice
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast, Collate
from simplejson import RawJSON

from cdsapi import enums, exactjson
from cdsapi.api.exceptions import InvalidRequest
from cdsapi.api.pagination import Page, Slice
from cdsapi.grants.conditions import any_of
from cdsapi.times import format_datetime
from usage.aggregation import (
    EXACT,
    Accumulator,
    Calendar,
    Window,
    aggregate_formats,
    inside,
    reducer,
    step,
)
from usage.filters import ACCOUNT, ITEM, ROW, After, Before, RelatedIds, SegmentIds
from usage.models import RELATED_ARRAYS, UsageSegment

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Without a cursor, reaching an offset means building every period before it.
MAX_AGGREGATE_OFFSET = 100_000
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


def _contained(window: Window) -> Q:
    q = Q()
    if window.start is not None:
        q &= Q(segment_start__gte=window.start)
    if window.end is not None:
        q &= Q(segment_end__lte=window.end)
    return q


def _moved(fmt: dict[str, Any], moved: dict[int, int]) -> dict[str, Any]:
    """A format whose ``indexes`` (cost, supply mix) follow its formats to new positions."""
    if not fmt.get("indexes"):
        return fmt
    return {**fmt, "indexes": [moved[i] for i in fmt["indexes"]]}


class _Presenter:
    """What a page's segments share, worked out once: pruned reference arrays and formats
    (segments of one meter carry identical texts), visible bill sections, account numbers."""

    def __init__(self, policy: Any, related_texts: set[str]) -> None:
        self.policy = policy
        self.cache: dict[tuple[str, str], Any] = {}
        self.times: dict[datetime, str] = {}
        self.instants: dict[str, datetime] = {}
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

    def positions(self, text: str) -> list[int] | None:
        """Which stored formats are served (None: all; see ``Policy.format_positions``)."""
        key = ("positions", text)
        if key not in self.cache:
            self.cache[key] = self.policy.format_positions(exactjson.loads(text))
        return self.cache[key]

    def formats(self, text: str) -> list[dict[str, Any]]:
        key = ("formats", text)
        if key not in self.cache:
            stored = exactjson.loads(text)
            positions = self.positions(text)
            if positions is not None:
                moved = {old: new for new, old in enumerate(positions)}
                stored = [_moved(stored[n], moved) for n in positions]
            self.cache[key] = [self._format(f) for f in stored]
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

    def instant(self, text: str) -> datetime:
        """A metadata timestamp as the database wrote it, parsed once per page."""
        if text not in self.instants:
            self.instants[text] = _stamp(text)
        return self.instants[text]

    def time(self, moment: datetime) -> str:
        if moment not in self.times:
            self.times[moment] = format_datetime(moment)
        return self.times[moment]

    def head(self, ident: str, meta: dict[str, Any], account_pk: int) -> dict[str, Any]:
        head = {
            "cds_usagesegment_id": ident,
            "cds_created": self.time(meta["cds_created"]),
            "cds_modified": self.time(meta["cds_modified"]),
            "cds_synced": self.time(self.policy.synced(meta["cds_synced"])),
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


def interval_page(rule: Any, filters: list[tuple[Any, Any]], params: dict, request: Any) -> Page:
    """One page of interval items, in served order.

    Rows a window holds whole are served as stored, so SQL filters and pages them. The few
    rows that cross a window bound are trimmed in memory (a row may serve a piece in each of
    two windows, or nothing at all) and merged into that order by their served keys.
    """
    if "cursor" in params:
        raise InvalidRequest("cursor: only aggregated views take one (in their next links)")
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

    whole = base.filter(any_of([_contained(w) for w in rule.windows]))
    for flt, value in item_filters:
        whole = flt.apply(whole, value, rule)
    order = (
        _binary("account__cds_account_id").asc(),
        "segment_start",
        "-cds_modified",
        _binary("cds_usagesegment_id").asc(),
    )
    if len(rule.policy.account_pks) == 1:
        # One account: its (account, segment_start) index gives the order, and the LIMIT
        # stops the scan after the page instead of sorting the whole history.
        order = order[1:]
    # At most len(pieces) items come before the row at ``skip``, so it is served at or
    # before ``offset``; fetching len(pieces) + limit + 1 rows from there covers the page.
    skip = max(0, window.offset - len(pieces))
    wanted = len(pieces) + window.limit + 1
    fetched = [
        _Interval(row)
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
    crossing = any_of(
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
                found.append(_Interval(row, kept))
    return found


def render_intervals(rule: Any, items: list[_Interval]) -> list[RawJSON]:
    """Items written straight to JSON text: stored values are spliced in, and the parts
    segments of one meter share are encoded once."""
    presenter = _Presenter(rule.policy, {item.row["related_json"] for item in items})
    rendered = []
    for item in items:
        row = item.row
        values = row["values_json"]
        positions = presenter.positions(row["formats_json"])
        if item.kept is not None or positions is not None:
            sets = exactjson.loads(values)
            if item.kept is not None:
                sets = sets[item.kept.start : item.kept.stop]
            if positions is not None:
                sets = [[s[n] for n in positions] for s in sets] if positions else []
            values = exactjson.dumps(sets)
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
_BOUNDS = ("segment_start", "segment_end")
# Periods shorter than a stored segment usually is (a day): their pages decode most rows.
_CUT_BY_PERIODS = frozenset({"hourly_aggregates"})


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
    """The segments one aggregate series is built from: one account, the meters the segments
    name as the grant shows them, their timezone, one set of formats. Nothing hidden tells
    series apart: not the meter that recorded the data, nor a hidden service point's zone."""

    rank: tuple[str, str, str]  # orders the series of one account: meter, zone, formats
    account: str
    account_pk: int
    meter: str
    calendar: Calendar
    formats_text: str
    formats: list[dict[str, Any]]
    kept_formats: list[dict[str, Any]]
    kept: list[int]
    presenter: "_Presenter"
    windows: dict[int, list[_Member]] = field(default_factory=dict)

    @cached_property
    def value_keys(self) -> list[str]:
        """The value key (``eu``, ``c``...) of each kept format."""
        return [enums.VALUE_KEYS[self.formats[k]["type"]] for k in self.kept]

    @cached_property
    def hows(self) -> list[str | None]:
        """How each kept format aggregates (``sum`` or ``max``)."""
        return [reducer(self.formats[k]) for k in self.kept]

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
        """A hash of what the aggregate shows, then its start (so an id filter finds the one
        period it names without walking the series)."""
        key = (
            f"{self.account}|{self.meter}|{self.calendar.tz.key}|{self.formats_text}|"
            f"{aggregation}|{lo.isoformat()}|{hi.isoformat()}"
        )
        return f"agg-{hashlib.sha256(key.encode()).hexdigest()[:24]}-{_compact(lo)}"

    @cached_property
    def related_all(self) -> dict[str, list[str]]:
        """The references of every row the series serves (those of a period without data)."""
        return _union_of(self.rows, self.presenter)


def _compact(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return f"{utc.year:04d}{utc:%m%dT%H%M%S}{fraction}Z"  # (%Y writes the year 999 as 999)


_AGGREGATE_ID = re.compile(r"^agg-[0-9a-f]{24}-(\d{8}T\d{6}(?:\.\d{6})?)Z$")


def _start_of(ident: str) -> datetime | None:
    """The period start an aggregate id names, or None if it is not an aggregate id."""
    match = _AGGREGATE_ID.match(ident)
    if match is None:
        return None
    text = match.group(1)
    layout = "%Y%m%dT%H%M%S.%f" if "." in text else "%Y%m%dT%H%M%S"
    try:
        return datetime.strptime(text, layout).replace(tzinfo=UTC)
    except ValueError:
        return None


def _union_of(rows: list[dict[str, Any]], presenter: "_Presenter") -> dict[str, list[str]]:
    texts = tuple(dict.fromkeys(row["related_json"] for row in rows))
    key = ("union", texts)
    if key not in presenter.cache:
        result = {}
        for name in RELATED_ARRAYS:
            seen: dict[str, None] = {}
            for text in texts:
                seen.update(dict.fromkeys(presenter.related(text)[name]))
            result[name] = list(seen)
        presenter.cache[key] = result
    return {name: list(ids) for name, ids in presenter.cache[key].items()}


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

    @property
    def key(self) -> tuple[str, datetime, tuple[str, str, str]]:
        """Served order: account, period, series."""
        return (self.group.account, self.start, self.group.rank)

    @cached_property
    def sources(self) -> list[dict[str, Any]]:
        """The rows its metadata and references come from: its members, or for a period
        without data, every row the series serves."""
        return [row for row, _ in self.members] or self.group.rows

    def related(self) -> dict[str, list[str]]:
        if not self.members:
            return self.group.related_all
        return _union_of(self.sources, self.presenter)

    def formats(self) -> list[dict[str, Any]]:
        return self.group.kept_formats


def aggregate_page(rule: Any, filters: list[tuple[Any, Any]], params: dict, request: Any) -> Page:
    """One page of calendar-period aggregates, ordered by account, period, series.

    Where it can, it reads only the rows near the page (``_Bounds``): what it builds from
    them is checked to be what the whole window gives, else the whole window is read."""
    base = rule.rows()
    for flt, value in filters:
        if flt.level == ACCOUNT:
            base = flt.apply(base, value, rule)
    tests = [(flt, value) for flt, value in filters if flt.level != ACCOUNT]
    reach = _Reach.of(tests, Cursor.parse(params.get("cursor")))
    window = Slice.of(params)
    if reach.cursor is None and window.offset > MAX_AGGREGATE_OFFSET:
        raise InvalidRequest(
            f"offset: at most {MAX_AGGREGATE_OFFSET} on an aggregated view; "
            "follow the next links (their cursor resumes anywhere at the cost of one page)"
        )
    bounds = _Bounds.of(rule, reach, tests, window)
    if bounds is not None:
        page = _aggregates(rule, base.filter(bounds.rows()), tests, reach, window, bounds)
        if page is not None:
            return _served(page, params, request, window)
    page = _aggregates(rule, base, tests, reach, window, None)
    assert page is not None  # only a bounded reading can fail its check
    return _served(page, params, request, window)


@dataclass
class _Found:
    """What a page of aggregates is made of, before it is rendered."""

    items: list["_Aggregate"]
    has_next: bool
    back: dict[str, str] | None
    presenter: "_Presenter"


def _served(found: _Found, params: dict, request: Any, window: Slice) -> Page:
    resume = {"cursor": Cursor.of(found.items[-1]).text} if found.has_next else {}
    rows = _build(found.items, found.presenter)
    return window.page(rows, found.has_next, params, request, resume, found.back)


def _aggregates(
    rule: Any,
    base: QuerySet,
    tests: list[tuple[Any, Any]],
    reach: "_Reach",
    window: Slice,
    bounds: "_Bounds | None",
) -> _Found | None:
    """The page's aggregates from the rows of ``base``; None if ``bounds`` cut those rows
    and the page is not wholly inside what they hold (everything before the page was
    read, so the ``previous`` link's walk back is always whole)."""
    # The metadata timestamps come as database text: only their minimum or maximum is
    # served, texts from one database compare like the instants they stand for, and parsing
    # 3 x 730 of them into datetimes was half the time of two years of monthly aggregates.
    # The bounds come as text too and are parsed here: the database driver's timestamp
    # loader (as Django installs it) was the largest single cost of an aggregated view.
    with_values = bounds is not None and rule.aggregation in _CUT_BY_PERIODS
    light = list(
        base.values(
            "pk",
            "account_id",
            "meter_id",
            "account__cds_account_id",
            "meter__cds_meterdevice_id",
            "interval",
            "totals_json",
            "formats_json",
            "related_json",
            *(["values_json"] if with_values else []),
            **{f"{name}_text": Cast(name, CharField()) for name in (*_STAMPS, *_BOUNDS)},
        ).order_by("segment_start", "pk")
    )
    for row in light:
        for name in _BOUNDS:
            row[name] = _stamp(row.pop(f"{name}_text"))
    presenter = _Presenter(rule.policy, {row["related_json"] for row in light})
    # The ids each reference filter looks for (a number filter's: the visible objects with
    # those numbers; 403 where the grant does not show the numbers, as on every view).
    wanted = {flt.param: flt.wanted(rule, value) for flt, value in tests if _refers(flt)}
    groups = [
        group
        for group in _groups(rule, light, presenter)
        if all(_may_match(group, flt, wanted[flt.param]) for flt, _ in tests if _refers(flt))
    ]
    checks = [
        partial(flt.matches, wanted=wanted[flt.param])
        if _refers(flt)
        else partial(flt.admits, value=value, rule=rule)
        for flt, value in tests
    ]
    if bounds is not None and not bounds.promising(groups):
        return None
    # Each series yields its periods lazily, in time order, from where the query starts;
    # merged, they are the served order. Only the periods up to the page's end are built.
    merged = heapq.merge(*(_series(group, rule, reach) for group in groups), key=_key)
    admitted = (a for a in merged if reach.after_cursor(a) and all(check(a) for check in checks))
    skip = 0 if reach.cursor else window.offset
    walked = list(islice(admitted, skip + window.limit + 1))
    found = walked[skip:]
    page, has_next = found[: window.limit], len(found) > window.limit
    if bounds is not None and not bounds.holds(walked, groups, whole=has_next):
        return None
    if bounds is not None and any(not a.members for a in page):
        # A period without data shows the references of every row of its series.
        return None
    back = None
    if reach.cursor is not None:
        # Far into a walk the previous page's offset may be past what offsets reach, so its
        # link carries a cursor too.
        anchor = page[0].key if page else reach.cursor.key
        earlier = _earlier(groups, rule, reach, checks, anchor, not page, window.limit)
        more = len(earlier) > window.limit
        back = {"cursor": Cursor.of(earlier[window.limit]).text} if more else {}
    return _Found(page, has_next, back, presenter)


def _earlier(
    groups: list["_Group"],
    rule: Any,
    reach: "_Reach",
    checks: list[Callable[["_Aggregate"], bool]],
    anchor: tuple[str, datetime, tuple[str, str, str]],
    inclusive: bool,
    limit: int,
) -> list["_Aggregate"]:
    """Up to ``limit + 1`` aggregates before ``anchor``, latest first: the ``previous``
    link's cursor is just before the page they end (none: that page is the first)."""
    earlier = (
        a
        for a in heapq.merge(
            *(_series_back(group, rule, reach, anchor) for group in groups),
            key=_key,
            reverse=True,
        )
        if (a.key < anchor or (inclusive and a.key == anchor)) and all(check(a) for check in checks)
    )
    return list(islice(earlier, limit + 1))


def _tops(groups: list["_Group"]) -> dict[str, datetime]:
    """Per account, the earliest of its series' last value sets read: up to there, every
    series is built as the whole window builds it."""
    tops: dict[str, datetime] = {}
    for group in groups:
        members = group.windows.get(0)
        if members:
            top = max(m.last for m in members)
            tops[group.account] = min(top, tops.get(group.account, top))
    return tops


# The longest a period of each aggregation can be (a day has 25 hours once a year).
_LONGEST_PERIOD = {
    "hourly_aggregates": timedelta(hours=1),
    "daily_aggregates": timedelta(hours=25),
    "monthly_aggregates": timedelta(days=31, hours=1),
}
# Beyond this many accounts, a page reads the whole window (the bound would be one OR each).
_MAX_BOUNDED_ACCOUNTS = 20


@dataclass(frozen=True)
class _Reading:
    """How much of one account a bounded read holds: the rows starting before ``upper``
    (None: all of them)."""

    pk: int
    upper: datetime | None


@dataclass(frozen=True)
class _Bounds:
    """The rows a page needs, per account, from each series' summary: from the first row
    up to a little past where the page can end, for one window and no item filters.

    Every series with a row before an account's bound is read, so the items up to the
    bound are what the whole window gives, except where a series read stops before the
    bound (a gap, or a series that ended: its periods without data past its last row read
    are unknown). ``holds`` checks that: every item ends a period before its account's
    bound and before any series' last row read, and a walk leaves an account for the next
    only where it was read whole. A page that fails is read again whole."""

    accounts: dict[str, _Reading]
    unit: timedelta  # the longest period of the aggregation

    @classmethod
    def of(
        cls, rule: Any, reach: "_Reach", tests: list[tuple[Any, Any]], window: Slice
    ) -> "_Bounds | None":
        if tests or len(rule.windows) != 1:
            return None
        summaries: dict[str, list[Any]] = {}
        for series in rule.series.values():
            summaries.setdefault(series.account.cds_account_id, []).append(series)
        if not summaries or len(summaries) > _MAX_BOUNDED_ACCOUNTS:
            return None
        unit = _LONGEST_PERIOD[rule.aggregation]
        # The items the walk asks for, and a period more: a series in another timezone may
        # start its periods up to one period before the bound.
        ahead = (window.limit + 3 + (0 if reach.cursor else window.offset)) * unit
        w, cursor = rule.windows[0], reach.cursor
        accounts = {}
        for ident, found in summaries.items():
            first = max([min(s.first_start for s in found), *([w.start] if w.start else [])])
            last = min([max(s.last_end for s in found), *([w.end] if w.end else [])])
            if cursor is not None and ident < cursor.account:
                upper = None  # before the cursor: only the previous link walks it
            else:
                begin = cursor.start if cursor is not None and ident == cursor.account else first
                upper = begin + ahead
            accounts[ident] = _Reading(
                found[0].account_id, upper if upper is not None and upper < last else None
            )
        if all(r.upper is None for r in accounts.values()):
            return None
        return cls(accounts, unit)

    def rows(self) -> Q:
        """Each account's rows that start before its bound."""
        conditions = []
        for reading in self.accounts.values():
            q = Q(account_id=reading.pk)
            if reading.upper is not None:
                q &= Q(segment_start__lt=reading.upper)
            conditions.append(q)
        return any_of(conditions)

    def promising(self, groups: list["_Group"]) -> bool:
        """False when what was read already shows that ``holds`` would fail: a series of an
        account read in part stops well before the bound (a gap in its data, or a series
        that ended). Such a page is read whole at once, before anything is built."""
        tops = _tops(groups)
        for ident, reading in self.accounts.items():
            top = tops.get(ident)
            if reading.upper is not None and (top is None or top + self.unit < reading.upper):
                return False
        return True

    def holds(self, items: list["_Aggregate"], groups: list["_Group"], whole: bool) -> bool:
        """Whether ``items``, walked forward, are what the whole window gives; ``whole``:
        the walk found all it asked for."""
        tops = _tops(groups)
        for n, item in enumerate(items):
            account = item.group.account
            reading = self.accounts.get(account)
            if reading is None:
                return False
            upper = reading.upper
            if upper is not None and (
                item.period_end + self.unit > upper or item.start > tops[account]
            ):
                return False
            following = items[n + 1] if n + 1 < len(items) else None
            left = following is not None and following.group.account != account
            if left and upper is not None:
                return False
        # A walk that ran out read every account to its end.
        return whole or all(r.upper is None for r in self.accounts.values())


def _key(aggregate: "_Aggregate") -> tuple[str, datetime, tuple[str, str, str]]:
    return aggregate.key


@dataclass(frozen=True)
class Cursor:
    """Where a page of aggregates ends (``next`` links carry it): the key of its last item.
    It only says where to resume; what is served there is decided as for any request."""

    account: str
    start: datetime
    rank: tuple[str, str, str]

    @property
    def key(self) -> tuple[str, datetime, tuple[str, str, str]]:
        return (self.account, self.start, self.rank)

    @property
    def text(self) -> str:
        """Signed with the server's key: a cursor is accepted only as the server gave it.
        No timestamp in it: the same page always links the same next page."""
        return _signer().sign_object([self.account, self.start.isoformat(), list(self.rank)])

    @classmethod
    def of(cls, aggregate: "_Aggregate") -> "Cursor":
        return cls(*aggregate.key)

    @classmethod
    def parse(cls, text: str | None) -> "Cursor | None":
        if text is None:
            return None
        try:
            if len(text) > 1024:
                raise ValueError
            account, start, rank = _signer().unsign_object(text)
            moment = datetime.fromisoformat(start)
            texts = [account, *rank] if isinstance(rank, list) and len(rank) == 3 else []
            if not (texts and all(isinstance(t, str) for t in texts) and moment.tzinfo):
                raise ValueError
        except (ValueError, TypeError, signing.BadSignature):
            raise InvalidRequest("cursor: not one this server gave out in a next link") from None
        return cls(account, moment.astimezone(UTC), tuple(rank))


def _signer() -> signing.Signer:
    return signing.Signer(salt="cdsapi.usage.cursor")


@dataclass(frozen=True)
class _Reach:
    """How far a query reaches in time: periods ending at or after ``after``, starting at or
    before ``before``, only the starts named by aggregate ids, from the cursor on."""

    after: datetime | None
    before: datetime | None
    starts: tuple[datetime, ...] | None
    cursor: Cursor | None

    @classmethod
    def of(cls, tests: list[tuple[Any, Any]], cursor: Cursor | None) -> "_Reach":
        after = before = starts = None
        for flt, value in tests:
            if isinstance(flt, After):
                after = value
            elif isinstance(flt, Before):
                before = value
            elif isinstance(flt, SegmentIds):
                starts = tuple(sorted({t for t in map(_start_of, value) if t is not None}))
        return cls(after, before, starts, cursor)

    def begin(self, group: "_Group") -> datetime | None:
        """The instant a series' periods are needed from (None: its first data)."""
        found = []
        if self.after is not None:
            found.append(self.after - _MICROSECOND)  # the period containing it ends after it
        if self.cursor is not None and self.cursor.account == group.account:
            found.append(self.cursor.start)
        return max(found, default=None)

    def skips(self, group: "_Group") -> bool:
        return self.cursor is not None and group.account < self.cursor.account

    def after_cursor(self, aggregate: "_Aggregate") -> bool:
        return self.cursor is None or aggregate.key > self.cursor.key


def _refers(flt: Any) -> bool:
    return isinstance(flt, RelatedIds)


def _may_match(group: "_Group", flt: Any, wanted: frozenset[str]) -> bool:
    """False when no period of the series can pass a reference filter looking for
    ``wanted``: a period's references are a part of those of the whole series."""
    return not flt.named(group.related_all, group.kept_formats).isdisjoint(wanted)


def _series_back(
    group: "_Group", rule: Any, reach: _Reach, anchor: tuple[str, datetime, tuple[str, str, str]]
) -> Iterator["_Aggregate"]:
    """A series' aggregates backwards in time, from ``anchor`` (a served key) down."""
    if group.account > anchor[0]:
        return
    upto = anchor[1] if group.account == anchor[0] else None
    if reach.before is not None:
        upto = min(upto or reach.before, reach.before)
    starts = None if reach.starts is None else tuple(reversed(reach.starts))
    for n in sorted(group.windows, reverse=True):
        for lo, hi, period_end in _periods_back(group, n, rule.windows[n], upto, starts):
            if reach.after is not None and hi < reach.after:
                return
            yield _Aggregate(group, n, lo, hi, period_end, rule.aggregation, group.presenter)


def _series(group: "_Group", rule: Any, reach: _Reach) -> Iterator["_Aggregate"]:
    """A series' aggregates in time order, built one by one as the merge asks for them."""
    if reach.skips(group):
        return
    begin = reach.begin(group)
    for n in sorted(group.windows):
        for lo, hi, period_end in _periods(group, n, rule.windows[n], begin, reach.starts):
            if reach.before is not None and lo > reach.before:
                return
            yield _Aggregate(group, n, lo, hi, period_end, rule.aggregation, group.presenter)


def _zone(rule: Any, account_pk: int, meters: list[str]) -> str:
    """The calendar of a series: the timezone of the first meter it names that has one, else
    of the account's meterless data, else ``CDS_TIMEZONE``."""
    zones = rule.zones
    for meter in meters:
        if zones.get((account_pk, meter)):
            return zones[(account_pk, meter)]
    return zones.get((account_pk, None)) or settings.CDS_TIMEZONE


def _groups(rule: Any, rows: list[dict[str, Any]], presenter: _Presenter) -> list[_Group]:
    """The series the served rows fall into; rows that serve nothing join none."""
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
        # A series is told apart only by what the response shows: the meters it names (never
        # the internal link to the meter that recorded it) and those meters' timezone.
        meters = sorted(presenter.related(row["related_json"])["related_meterdevices"])
        meter = " ".join(meters)
        zone = _zone(rule, row["account_id"], meters)
        formats_text = presenter.text("formats", row["formats_json"])
        key = (row["account__cds_account_id"], meter, zone, formats_text)
        group = found.get(key)
        if group is None:
            formats = presenter.formats(row["formats_json"])
            kept_formats, kept = aggregate_formats(formats, rule.aggregation)
            digest = hashlib.sha256(formats_text.encode()).hexdigest()[:16]
            group = found[key] = _Group(
                (meter, zone, digest),
                row["account__cds_account_id"],
                row["account_id"],
                meter,
                Calendar(rule.aggregation, zone),
                formats_text,
                formats,
                kept_formats,
                kept,
                presenter,
            )
        for n, member in served:
            group.windows.setdefault(n, []).append(member)
    # A series of readings or supply mix only has nothing to aggregate.
    return [found[key] for key in sorted(found) if found[key].kept]


def _periods(
    group: _Group,
    n: int,
    window: Window,
    begin: datetime | None = None,
    starts: tuple[datetime, ...] | None = None,
) -> Iterator[tuple[datetime, datetime, datetime]]:
    """The periods from the first served value set of window ``n`` to its last (a period
    inside that span without data is served too, as null), from ``begin`` on, or only those
    starting at ``starts``: each clipped to the window, with the end of the whole period,
    since value sets belong to the period they start in."""
    members = group.windows[n]
    first = min(m.first for m in members)
    last = max(m.last for m in members)
    calendar = group.calendar
    if starts is not None:
        for moment in starts:
            if not first - timedelta(days=32) <= moment <= last:
                continue
            lo = calendar.floor(moment)
            hi = calendar.next(lo)
            if hi > first and lo <= last and max(lo, window.start or lo) == moment:
                yield moment, min(hi, window.end or hi), hi
        return
    for lo, hi in calendar.periods(max(first, begin or first), last + _MICROSECOND):
        yield max(lo, window.start or lo), min(hi, window.end or hi), hi


def _periods_back(
    group: _Group,
    n: int,
    window: Window,
    upto: datetime | None = None,
    starts: tuple[datetime, ...] | None = None,
) -> Iterator[tuple[datetime, datetime, datetime]]:
    """``_periods`` in reverse: from the period holding ``upto`` (or the last data) back to
    the first data, or only those starting at ``starts`` (given latest first)."""
    if starts is not None:
        yield from _periods(group, n, window, None, starts)
        return
    members = group.windows[n]
    first = min(m.first for m in members)
    last = max(m.last for m in members)
    for lo, hi in group.calendar.periods_back(min(last, upto or last), first):
        yield max(lo, window.start or lo), min(hi, window.end or hi), hi


def _build(aggregates: list[_Aggregate], presenter: _Presenter) -> list[dict[str, Any]]:
    """The page's aggregates: totals for segments a period takes whole, value sets (one query
    for all of them) for segments it takes in part."""
    cut = {
        row["pk"] for a in aggregates for row, indexes in a.members if len(indexes) != row["count"]
    }
    # A bounded hourly page read its few rows' value sets with them (they are all cut).
    stored = {
        row["pk"]: row["values_json"]
        for a in aggregates
        for row, _ in a.members
        if row["pk"] in cut and "values_json" in row
    }
    if cut - stored.keys():
        found = UsageSegment.objects.filter(pk__in=cut - stored.keys())
        stored.update(found.values_list("pk", "values_json"))
    # Per stored row (and the series reading it): each kept format's values as a column,
    # None where a value set or its value is null; and each row's totals, decoded once.
    columns: dict[tuple[int, int], list[list[Any]]] = {}
    totals: dict[int, list] = {}
    items = []
    for a in aggregates:
        group = a.group
        keys, hows = group.value_keys, group.hows
        total = Accumulator(hows)
        for row, indexes in a.members:
            pk = row["pk"]
            if pk in cut:
                if (pk, id(group)) not in columns:
                    values = exactjson.loads(stored[pk])
                    columns[(pk, id(group))] = [
                        [None if v[k] is None else v[k][key] for v in values]
                        for k, key in zip(group.kept, keys, strict=True)
                    ]
                for position, column in enumerate(columns[(pk, id(group))]):
                    found = [v for v in column[indexes.start : indexes.stop] if v is not None]
                    if found:
                        how = hows[position]
                        total.add(
                            position, reduce(EXACT.add, found) if how == "sum" else max(found)
                        )
            else:
                if pk not in totals:
                    totals[pk] = exactjson.loads(row["totals_json"])
                for position, k in enumerate(group.kept):
                    total.add(position, totals[pk][k][0])
        sources = a.sources
        meta = {
            "cds_created": presenter.instant(min(r["cds_created_text"] for r in sources)),
            "cds_modified": presenter.instant(max(r["cds_modified_text"] for r in sources)),
            "cds_synced": presenter.instant(max(r["cds_synced_text"] for r in sources)),
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
