from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from cdsapi import exactjson
from cdsapi.admin import ImportedDataAdmin, column
from usage.models import UsageSegment

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


def usage_chart(segments: list[UsageSegment]) -> str:
    """A server-rendered SVG bar chart: one bar per segment, its first format's total."""
    totals = []
    for segment in segments:
        first = (exactjson.loads(segment.totals_json) or [None])[0]
        totals.append((segment, Decimal(str(first[0])) if first else Decimal(0)))
    if not totals:
        return "-"
    peak = max((t for _, t in totals), default=Decimal(0)) or Decimal(1)
    width, height = 6 * len(totals), 120
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="5" height="{}" fill="#1f6f43"><title>{}: {}</title></rect>',
        (
            (
                6 * n,
                height - int(height * max(total, 0) / peak),
                int(height * max(total, 0) / peak),
                _local(segment.segment_start),
                total,
            )
            for n, (segment, total) in enumerate(totals)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
        'aria-label="usage per segment">{}</svg>'
        "<br><small>{} segments from {} to {}; peak {}</small>",
        width,
        height,
        bars,
        len(totals),
        _local(totals[0][0].segment_start),
        _local(totals[-1][0].segment_end),
        peak,
    )
