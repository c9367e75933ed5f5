"""Arithmetic on usage segments: grant windows, trimming, calendar periods and aggregates.

Pure functions on exact ``Decimal`` values; no database access. Value set ``i`` of a segment
covers ``[segment_start + i*interval, segment_start + (i+1)*interval)``; a value set is
inside a window only if all of it is, and it belongs to the calendar period its start is in.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from functools import lru_cache, reduce
from typing import Any
from zoneinfo import ZoneInfo

from cdsapi import enums

# Sums are exact, whatever the number of digits: the default context keeps 28 of them.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)

# Finest first: a grant of one type allows it and every type after it.
AGGREGATION_TYPES = ("intervals", "hourly_aggregates", "daily_aggregates", "monthly_aggregates")
SUMMED = {"eu", "wu", "gu", "fu", "c"}


@dataclass(frozen=True)
class Window:
    """``[start, end)``; None is unbounded."""

    start: datetime | None
    end: datetime | None

    def contains(self, start: datetime, end: datetime) -> bool:
        return (self.start is None or start >= self.start) and (self.end is None or end <= self.end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return (self.start is None or end > self.start) and (self.end is None or start < self.end)


def merge_windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    """The union of windows as disjoint windows in time order."""
    low = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(windows, key=lambda w: w.start or low)
    merged: list[Window] = []
    for window in ordered:
        if merged and (merged[-1].end is None or (window.start or low) <= merged[-1].end):
            last = merged[-1]
            end = None if last.end is None or window.end is None else max(last.end, window.end)
            merged[-1] = Window(last.start, end)
        else:
            merged.append(window)
    return tuple(merged)


def reducer(fmt: dict[str, Any]) -> str | None:
    """How a format aggregates: ``sum`` (usage, cost), ``max`` (peak demand), or not at all."""
    key = enums.VALUE_KEYS.get(fmt.get("type"))
    if key in SUMMED:
        return "sum"
    if key == "ed" and fmt.get("demand_type") == "peak":
        return "max"
    return None


def totals(values: list[list[Any]], formats: list[dict[str, Any]]) -> list[list[Any] | None]:
    """Per format: ``[sum or peak of the non-null values (None if none), count]``, or None."""
    columns = [
        [row[k][enums.VALUE_KEYS[fmt["type"]]] for row in values if row[k] is not None]
        if reducer(fmt)
        else []
        for k, fmt in enumerate(formats)
    ]
    return column_totals(columns, formats)


def column_totals(
    columns: list[list[Any]], formats: list[dict[str, Any]]
) -> list[list[Any] | None]:
    """``totals`` of the non-null numbers of each format, given column by column."""
    result: list[list[Any] | None] = []
    for found, fmt in zip(columns, formats, strict=True):
        how = reducer(fmt)
        if how is None:
            result.append(None)
        elif not found:
            result.append([None, 0])
        elif how == "sum":
            result.append([reduce(EXACT.add, found), len(found)])
        else:
            result.append([max(found), len(found)])
    return result


@lru_cache(maxsize=64)
def step(interval: Decimal) -> timedelta:
    return timedelta(microseconds=int(interval * 1_000_000))


def inside(start: datetime, interval: Decimal, count: int, window: Window) -> range:
    """Indexes of the value sets wholly inside ``window``."""
    dt = step(interval)
    first = 0 if window.start is None else max(0, -(-(window.start - start) // dt))
    last = count if window.end is None else min(count, (window.end - start) // dt)
    return range(first, max(first, last))


class Calendar:
    """Calendar periods of one aggregation type in one timezone, as UTC instants."""

    def __init__(self, aggregation: str, timezone: str) -> None:
        self.aggregation = aggregation
        self.tz = ZoneInfo(timezone)

    def floor(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.tz)
        if self.aggregation == "hourly_aggregates":
            start = local.replace(minute=0, second=0, microsecond=0)
        elif self.aggregation == "daily_aggregates":
            start = datetime.combine(local.date(), time(0), tzinfo=self.tz)
        else:
            start = datetime.combine(local.date().replace(day=1), time(0), tzinfo=self.tz)
        return start.astimezone(UTC)

    def next(self, period_start: datetime) -> datetime:
        if self.aggregation == "hourly_aggregates":
            return period_start + timedelta(hours=1)
        local = period_start.astimezone(self.tz)
        if self.aggregation == "daily_aggregates":
            day = local.date() + timedelta(days=1)
        else:
            month = local.date().replace(day=1)
            day = (month + timedelta(days=32)).replace(day=1)
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    def periods_back(
        self, moment: datetime, first: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """The periods from the one holding ``moment`` back to the one holding ``first``."""
        period, lowest = self.floor(moment), self.floor(first)
        while period >= lowest:
            yield period, self.next(period)
            period = self.floor(period - timedelta(microseconds=1))

    def periods(self, start: datetime, end: datetime) -> Iterable[tuple[datetime, datetime]]:
        """The periods overlapping ``[start, end)``, unclipped."""
        period = self.floor(start)
        while period < end:
            following = self.next(period)
            yield period, following
            period = following


def aggregate_formats(
    formats: list[dict[str, Any]], aggregation: str
) -> tuple[list[dict], list[int]]:
    """The formats an aggregate carries, and the stored positions they come from.

    Readings, supply mix and non-peak demand are dropped; every kept format is marked
    ``quality: calculated``; cost ``indexes`` are renumbered to the kept positions.
    """
    kept = [k for k, fmt in enumerate(formats) if reducer(fmt) is not None]
    renumber = {old: new for new, old in enumerate(kept)}
    result = []
    for k in kept:
        fmt = {**formats[k], "id": f"{formats[k]['id']}:{aggregation}", "quality": "calculated"}
        if "indexes" in fmt:
            fmt["indexes"] = [renumber[i] for i in fmt["indexes"] or [] if i in renumber]
        result.append(fmt)
    return result, kept


class Accumulator:
    """Running sums or peaks of one aggregate value set."""

    __slots__ = ("hows", "values")

    def __init__(self, hows: list[str]) -> None:
        self.hows = hows
        self.values: list[Decimal | None] = [None] * len(hows)

    def add(self, position: int, value: Decimal | None) -> None:
        if value is None:
            return
        current = self.values[position]
        if current is None:
            self.values[position] = value
        elif self.hows[position] == "sum":
            self.values[position] = EXACT.add(current, value)
        elif value > current:
            self.values[position] = value
