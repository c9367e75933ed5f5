"""The pure arithmetic under usage serving: windows, trimming, formats of aggregates."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from usage.aggregation import Window, aggregate_formats, inside, merge_windows

T = datetime(2025, 1, 1, tzinfo=UTC)


def at(hours: float | None) -> datetime | None:
    return None if hours is None else T + timedelta(hours=hours)


def windows(*spans: tuple[float | None, float | None]) -> tuple[Window, ...]:
    return tuple(Window(at(lo), at(hi)) for lo, hi in spans)


@pytest.mark.parametrize(
    ("given", "merged"),
    [
        ([(0, 2), (1, 3)], [(0, 3)]),  # overlapping
        ([(0, 2), (2, 3)], [(0, 3)]),  # touching
        ([(0, 1), (2, 3)], [(0, 1), (2, 3)]),  # disjoint: the gap stays out
        ([(2, 3), (0, 1)], [(0, 1), (2, 3)]),  # in any order
        ([(0, 5), (1, 2)], [(0, 5)]),  # one inside another keeps the outer end
        ([(0, 2), (1, None)], [(0, None)]),  # an unbounded end wins
        ([(None, 1), (0, 2)], [(None, 2)]),  # an unbounded start wins
        ([(0, 1), (2, 3), (1, 2)], [(0, 3)]),  # a bridge joins three
        ([(0, 1), (3, 4), (1.5, 2)], [(0, 1), (1.5, 2), (3, 4)]),
    ],
)
def test_merge_windows_gives_their_union_as_disjoint_windows(given, merged) -> None:
    assert merge_windows(windows(*given)) == windows(*merged)


def test_inside_keeps_only_value_sets_wholly_in_the_window() -> None:
    window = Window(at(0.25) + timedelta(seconds=1), at(1))
    assert inside(T, Decimal(900), 8, window) == range(2, 4)
    assert inside(T, Decimal(900), 8, Window(None, None)) == range(0, 8)
    assert inside(T, Decimal(3600), 2, Window(at(0.5), at(1.5))) == range(1, 1)


def test_aggregate_formats_renumber_cost_indexes_to_the_kept_positions() -> None:
    formats = [
        {"id": "read", "type": "meter_readings", "units": "kWh"},
        {"id": "avg", "type": "electric_demand", "units": "kW", "demand_type": "average"},
        {"id": "use", "type": "electric_usage", "units": "kWh", "direction": "forward"},
        {"id": "cost", "type": "cost", "currency": "USD", "indexes": [0, 2]},
    ]
    kept_formats, kept = aggregate_formats(formats, "daily_aggregates")
    assert kept == [2, 3]
    assert [f["id"] for f in kept_formats] == ["use:daily_aggregates", "cost:daily_aggregates"]
    assert kept_formats[1]["indexes"] == [0]
    assert all(f["quality"] == "calculated" for f in kept_formats)
