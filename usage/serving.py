"""Serving usage segments within a grant: stored value sets spliced in as exact JSON text,
segments crossing a window bound trimmed to the value sets inside it, or calendar-period
aggregates built from per-segment totals (decoding only the segments a period cuts)."""

import hashlib
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from simplejson import RawJSON

from cdsapi import enums, exactjson
from cdsapi.authorization_details import format_datetime
from cdsapi.filters import DateTimeBound
from cdsapi.pagination import Page, paginate
from usage.aggregation import (
    Accumulator,
    Calendar,
    Window,
    aggregate_formats,
    inside,
    reducer,
    step,
)
from usage.models import RELATED_ARRAYS, UsageSegment

_META = (
    "cds_usagesegment_id",
    "cds_created",
    "cds_modified",
    "cds_synced",
    "account_id",
    "segment_start",
    "segment_end",
    "interval",
)


def interval_rows(rows: QuerySet[UsageSegment]) -> QuerySet:
    """The columns a page of intervals needs; JSON columns stay text until decoded once."""
    return rows.values(*_META, "values_json", "formats_json", "related_json")


class _Presenter:
    """What a page's segments share, worked out once: pruned reference arrays and formats
    (segments of one meter carry identical texts), visible bill sections, account numbers."""

    def __init__(self, rule: Any, rows: list[dict[str, Any]]) -> None:
        self.policy = rule.policy
        self.cache: dict[tuple[str, str], Any] = {}
        self.times: dict[datetime, str] = {}
        linked = {
            i
            for text in {row["related_json"] for row in rows}
            for i in exactjson.loads(text).get("related_billsections", [])
        }
        self.sections = self.policy.visible_sections(linked) or frozenset()

    def related(self, text: str) -> dict[str, list[str]]:
        """The six reference arrays, each cut to the ids the grant may show."""
        key = ("related", text)
        if key not in self.cache:
            stored = exactjson.loads(text)
            pruned = {}
            for name in RELATED_ARRAYS:
                ids = stored.get(name, [])
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
                "related_meterdevices", fmt["related_meterdevices"]
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


def render_intervals(rule: Any, rows: list[dict[str, Any]]) -> list[RawJSON]:
    """Stored segments as they are where a window holds them whole, trimmed where it cuts.

    Each segment is written straight to JSON text: its stored values are spliced in, and the
    parts segments of one meter share are encoded once.
    """
    presenter = _Presenter(rule, rows)
    items = []
    for row in rows:
        start, end = row["segment_start"], row["segment_end"]
        for window in rule.windows:
            if not window.overlaps(start, end):
                continue
            ident, values = row["cds_usagesegment_id"], row["values_json"]
            lo, hi = start, end
            if not window.contains(start, end):
                dt = step(row["interval"])
                kept = inside(start, row["interval"], (end - start) // dt, window)
                if not kept:
                    continue
                lo, hi = start + kept.start * dt, start + kept.stop * dt
                ident = f"{ident}~{presenter.time(lo)}~{presenter.time(hi)}"
                values = exactjson.dumps(exactjson.loads(values)[kept.start : kept.stop])
            head = exactjson.dumps(presenter.head(ident, row, row["account_id"]))[:-1]
            related = presenter.text("related", row["related_json"])
            formats = presenter.text("formats", row["formats_json"])
            times = f'"segment_start":"{presenter.time(lo)}","segment_end":"{presenter.time(hi)}"'
            items.append(
                RawJSON(
                    f'{head},{related},{times},"interval":{row["interval"]},'
                    f'"formats":{formats},"values":{values}}}'
                )
            )
    return items


# -- aggregates -------------------------------------------------------------------------------


class _Series:
    """The segments of one account, meter and format set, in time order."""

    def __init__(self, order: int, rows: list[dict[str, Any]], calendar: Calendar) -> None:
        self.order = order
        self.rows = rows
        self.calendar = calendar
        self.starts = [r["segment_start"] for r in rows]
        self.first = rows[0]["segment_start"]
        self.last = max(r["segment_end"] for r in rows)
        self.longest = max(r["segment_end"] - r["segment_start"] for r in rows)
        self.account = rows[0]["account__cds_account_id"]
        self.account_pk = rows[0]["account_id"]
        self.meter = rows[0]["meter__cds_meterdevice_id"] or ""
        self.formats_text = rows[0]["formats_json"]

    def overlapping(self, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        first = bisect_left(self.starts, lo - self.longest)
        last = bisect_left(self.starts, hi)
        return [r for r in self.rows[first:last] if r["segment_end"] > lo]


def _periods(series: _Series, windows: tuple[Window, ...]) -> list[tuple[datetime, datetime]]:
    """The calendar periods between the series' first and last data, each clipped only by the
    grant window (a period without data inside that span is still served, as null)."""
    found = []
    for window in windows:
        lo = max(window.start or series.first, series.first)
        hi = min(window.end or series.last, series.last)
        if lo >= hi:
            continue
        for start, end in series.calendar.periods(lo, hi):
            found.append((max(start, window.start or start), min(end, window.end or end)))
    return found


_STAMPS = ("cds_created", "cds_modified", "cds_synced")


def _stamp(text: str) -> datetime:
    """A UTC timestamp as the database wrote it (``2025-01-01 07:00:00[.ffffff][+00]``)."""
    return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)


def _aggregate_id(series: _Series, aggregation: str, lo: datetime, hi: datetime) -> str:
    key = f"{series.account}|{series.meter}|{series.formats_text}|{aggregation}|{lo}|{hi}"
    return "agg-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def aggregate_page(rule: Any, rows: QuerySet, params: dict[str, str], request: Any) -> Page:
    """One page of calendar-period aggregates, ordered by account, period, series."""
    # The metadata timestamps come as database text: only their minimum or maximum is
    # served, texts from one database compare like the instants they stand for, and parsing
    # 3 x 730 of them into datetimes was half the time of two years of monthly aggregates.
    light = rows.values(
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
    )
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in light:
        grouped[(row["account_id"], row["meter_id"], row["formats_json"])].append(row)
    all_series = []
    for order, ((account_pk, meter_pk, _), members) in enumerate(grouped.items()):
        known = rule.series.get((account_pk, meter_pk))
        zone = (known.timezone if known else "") or settings.CDS_TIMEZONE
        all_series.append(_Series(order, members, Calendar(rule.aggregation, zone)))

    entries = [
        (series.account, lo, series.order, series, hi)
        for series in all_series
        for lo, hi in _periods(series, rule.windows)
    ]
    entries.sort(key=lambda e: e[:3])
    if "before" in params:
        before = DateTimeBound("before", "").parse(params["before"])
        entries = [e for e in entries if e[1] <= before]
    if "after" in params:
        after = DateTimeBound("after", "").parse(params["after"])
        entries = [e for e in entries if e[4] >= after]
    if "cds_usagesegment_ids" in params:
        wanted = set(params["cds_usagesegment_ids"].split())
        entries = [
            e for e in entries if _aggregate_id(e[3], rule.aggregation, e[1], e[4]) in wanted
        ]
    page = paginate(entries, params, request)
    return Page(_build(rule, page.rows), page.next, page.previous)


def _build(rule: Any, entries: list[tuple]) -> list[dict[str, Any]]:
    """The aggregate segments of one page: totals for segments inside a period, value sets
    (one query for all of them) for segments a period or window bound cuts."""
    spans = [(e[3], e[1], e[4], e[3].overlapping(e[1], e[4])) for e in entries]
    cut = {
        r["pk"]
        for _, lo, hi, members in spans
        for r in members
        if r["segment_start"] < lo or r["segment_end"] > hi
    }
    stored = dict(UsageSegment.objects.filter(pk__in=cut).values_list("pk", "values_json"))
    presenter = _Presenter(rule, [r for *_, members in spans for r in members])
    items = []
    for series, lo, hi, members in spans:
        formats = presenter.formats(series.formats_text)
        kept_formats, kept = aggregate_formats(formats, rule.aggregation)
        hows = [reducer(formats[k]) for k in kept]
        keys = [enums.VALUE_KEYS[formats[k]["type"]] for k in kept]
        total = Accumulator(hows)
        for row in members:
            if row["pk"] in cut:
                values = exactjson.loads(stored[row["pk"]])
                window = Window(lo, hi)
                start, interval = row["segment_start"], row["interval"]
                for i in inside(start, interval, len(values), window):
                    value_set = values[i]
                    for n, k in enumerate(kept):
                        if value_set[k] is not None:
                            total.add(n, value_set[k][keys[n]])
            else:
                sums = exactjson.loads(row["totals_json"])
                for n, k in enumerate(kept):
                    total.add(n, sums[k][0])
        source = members or series.rows
        meta = {
            "cds_created": _stamp(min(r["cds_created_text"] for r in source)),
            "cds_modified": _stamp(max(r["cds_modified_text"] for r in source)),
            "cds_synced": _stamp(max(r["cds_synced_text"] for r in source)),
        }
        item = presenter.head(
            _aggregate_id(series, rule.aggregation, lo, hi), meta, series.account_pk
        )
        texts = dict.fromkeys(row["related_json"] for row in source)
        for name in RELATED_ARRAYS:
            seen: dict[str, None] = {}
            for text in texts:
                seen.update(dict.fromkeys(presenter.related(text)[name]))
            item[name] = list(seen)
        item["segment_start"] = format_datetime(lo)
        item["segment_end"] = format_datetime(hi)
        item["interval"] = Decimal(int((hi - lo).total_seconds()))
        item["formats"] = kept_formats
        item["values"] = [
            [None if value is None else {keys[n]: value} for n, value in enumerate(total.values)]
        ]
        items.append(item)
    return items
