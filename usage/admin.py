from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from accounts.models import MeterDevice
from cdsapi.admin import ImportedDataAdmin, column, input_filter
from cdsapi.grants.policy import Policy, UsageEntry, UsageRule
from cdsapi.times import EARLIEST
from usage import serving
from usage.aggregation import Accumulator, Calendar, Window, reducer
from usage.models import UsageSegment, UsageSeries

MAX_ROWS = 500


def _local(moment: Any) -> str:
    return moment.astimezone(ZoneInfo(settings.CDS_TIMEZONE)).strftime("%Y-%m-%d %H:%M %Z")


@admin.register(UsageSegment)
class UsageSegmentAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_usagesegment_id", "Usage segment ID"),
        "account",
        "meter",
        "segment_start",
        "segment_end",
        "interval",
    ]
    list_select_related = ["account", "meter"]
    list_filter = [
        input_filter("Account ID", "account", "account__cds_account_id"),
        input_filter("Meter ID", "meter", "meter__cds_meterdevice_id"),
    ]
    search_fields = ["cds_usagesegment_id", "account__cds_account_id", "meter__cds_meterdevice_id"]
    date_hierarchy = "segment_start"
    exclude = ["values_json", "totals_json", "formats_json", "related_json"]
    readonly_fields = ["value_sets"]

    @admin.display(description=f"Value sets (first {MAX_ROWS}, times in CDS_TIMEZONE)")
    def value_sets(self, obj: UsageSegment) -> str:
        formats = obj.formats
        header = format_html_join(
            "",
            "<th>{}<br><small>{} {}</small></th>",
            ((f.get("id", ""), f.get("type", ""), f.get("units", "")) for f in formats),
        )
        step = timedelta(seconds=float(obj.interval))
        rows = []
        for n, value_set in enumerate(obj.values[:MAX_ROWS]):
            cells = value_set or [None] * len(formats)
            shown = (
                ", ".join(str(v) for v in (cell or {}).values()) if cell else "-" for cell in cells
            )
            rows.append((_local(obj.segment_start + n * step), *shown))
        body = format_html_join(
            "",
            "<tr><td>{}</td>" + "<td>{}</td>" * len(formats) + "</tr>",
            rows,
        )
        return format_html("<table><tr><th>start</th>{}</tr>{}</table>", header, body)


# The meter page's charts: how many calendar periods back from the meter's latest data.
CHARTS = {"daily_aggregates": 90, "monthly_aggregates": 24}
_MICROSECOND = timedelta(microseconds=1)


class _NoLinks:
    """Stands in for the request ``serving.aggregate_page`` builds its next link from."""

    path = ""

    @staticmethod
    def build_absolute_uri(location: str) -> str:
        return location


def period_totals(
    meter: MeterDevice, aggregation: str, count: int
) -> tuple[list[tuple[datetime, Decimal | None]], dict[str, Any] | None, str]:
    """The meter's last ``count`` calendar periods (``daily_aggregates`` or
    ``monthly_aggregates``, up to its latest data), each with the total of its first
    summed format (None: no data), that format, and the timezone of the periods.

    Computed as the Customer Data API serves aggregates (``serving.aggregate_page``, from
    the segments' stored totals, calendar periods in the meter's service point timezone or
    ``CDS_TIMEZONE``), as if a grant showed the meter's accounts over those periods.
    """
    series = list(UsageSeries.objects.filter(meter=meter).order_by("-last_end"))
    zone = (series[0].timezone if series else "") or settings.CDS_TIMEZONE
    if not series:
        return [], None, zone
    calendar = Calendar(aggregation, zone)
    periods = list(
        islice(calendar.periods_back(series[0].last_end - _MICROSECOND, EARLIEST), count)
    )
    periods.reverse()
    start, end = periods[0][0], periods[-1][1]
    accounts = dict(
        UsageSeries.objects.filter(meter=meter).values_list("account_id", "account__cds_account_id")
    )
    policy = Policy(
        account_pks=frozenset(accounts),
        account_ids=frozenset(accounts.values()),
        numbers=(),
        accounts=(),
        bills=(),
        usage=(UsageEntry(start, end, aggregation),),
    )
    rule = UsageRule(
        policy, aggregation, (Window(start, end),), frozenset({meter.cds_meterdevice_id})
    )
    params = {"limit": str(min(count, settings.CDS_PAGE_SIZE))}
    items: list[dict[str, Any]] = []
    while True:
        page = serving.aggregate_page(rule, [], params, _NoLinks())
        items.extend(page.rows)
        if page.next is None:
            break
        params["cursor"] = parse_qs(urlsplit(page.next).query)["cursor"][0]
    return _summed(items, periods), _charted_format(items), zone


def _charted_format(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first summed format (usage, cost) of the latest aggregate, else its first one."""
    formats = items[-1]["formats"] if items else []
    summed = [f for f in formats if reducer(f) == "sum"]
    return (summed or formats or [None])[0]


def _summed(
    items: list[dict[str, Any]], periods: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, Decimal | None]]:
    """Per period, the charted format's value over every series (accounts) of the meter."""
    fmt = _charted_format(items)
    if fmt is None:
        return [(lo, None) for lo, _ in periods]
    totals: dict[datetime, Accumulator] = {}
    for item in items:
        ids = [f["id"] for f in item["formats"]]
        if fmt["id"] not in ids:
            continue
        value = item["values"][0][ids.index(fmt["id"])]
        if value is not None:
            moment = datetime.fromisoformat(item["segment_start"])
            total = totals.setdefault(moment, Accumulator([reducer(fmt) or "sum"]))
            total.add(0, next(iter(value.values())))
    return [(lo, totals[lo].values[0] if lo in totals else None) for lo, _ in periods]


def usage_chart(meter: MeterDevice, aggregation: str) -> str:
    """A server-rendered SVG bar chart of ``period_totals``: one bar per day or month."""
    count = CHARTS[aggregation]
    bars, fmt, zone = period_totals(meter, aggregation, count)
    if fmt is None or all(total is None for _, total in bars):
        return "-"
    tz = ZoneInfo(zone)
    layout = "%Y-%m-%d" if aggregation == "daily_aggregates" else "%Y-%m"
    labels = [moment.astimezone(tz).strftime(layout) for moment, _ in bars]
    units = fmt.get("units", "")
    return _svg(
        list(zip(labels, (total for _, total in bars), strict=True)),
        units,
        caption=format_html(
            "{} {} from {} to {} ({}); format {}",
            len(bars),
            "days" if aggregation == "daily_aggregates" else "months",
            labels[0],
            labels[-1],
            zone,
            fmt["id"].rsplit(":", 1)[0],
        ),
    )


def _svg(bars: list[tuple[str, Decimal | None]], units: str, caption: str) -> str:
    """Bars up from a zero line for positive totals, down (orange) for negative ones (net
    usage of a meter that exports); a period without data has no bar."""
    width, height = 540, 120
    step = max(4, width // len(bars))
    known = [t for _, t in bars if t is not None]
    top, bottom = max(max(known), 0), max(-min(known), 0)
    span = (top + bottom) or Decimal(1)
    zero = round(height * top / span)

    def bar(n: int, label: str, total: Decimal) -> tuple[Any, ...]:
        size = max(1, round(height * abs(total) / span)) if total else 0
        y, colour = (zero - size, "#1f6f43") if total >= 0 else (zero, "#b35900")
        return (step * n, y, step - 1, size, colour, label, total, units)

    shown: Iterable[tuple[Any, ...]] = (
        bar(n, label, total) for n, (label, total) in enumerate(bars) if total is not None
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
        'aria-label="usage per period">{}<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#999"/>'
        "</svg><br><small>{}; highest {} {}, lowest {} {}</small>",
        step * len(bars),
        height,
        format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
            shown,
        ),
        zero,
        step * len(bars),
        zero,
        caption,
        max(known),
        units,
        min(known),
        units,
    )
