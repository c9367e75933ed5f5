"""The access log in the admin: read only, filterable, exportable as a streamed CSV."""

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from accesslog.models import AccessLogEntry
from cdsapi.admin import ReadOnlyAdmin

COLUMNS = (
    "time",
    "client_id",
    "grant_id",
    "method",
    "endpoint",
    "query",
    "status",
    "rows",
    "duration_ms",
    "request_id",
    "accounts",
    "staff_user",
)


class Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: QuerySet) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(COLUMNS)
    for values in rows.values_list(*COLUMNS).iterator(chunk_size=2000):
        yield writer.writerow([v.isoformat() if hasattr(v, "isoformat") else v for v in values])


def csv_response(rows: QuerySet) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="access-log-{stamp}.csv"'
    return response


class MadeByFilter(admin.SimpleListFilter):
    """Client requests, or the admin's grant previews (a staff user named)."""

    title = "made by"
    parameter_name = "made_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("clients", "Clients"), ("previews", "Admin previews")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "clients":
            return queryset.filter(staff_user="")
        if self.value() == "previews":
            return queryset.exclude(staff_user="")
        return queryset


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "time",
        "client_id",
        "grant_id",
        "method",
        "endpoint",
        "status",
        "rows",
        "duration_ms",
        "request_id",
        "staff_user",
    )
    list_filter = ("client_id", "status", "endpoint", "time", MadeByFilter)
    search_fields = ("=grant_id", "=request_id", "=staff_user")
    show_full_result_count = False
    actions = ["export_csv"]
    list_per_page = 100

    def get_urls(self) -> list:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name="accesslog_accesslogentry_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """Every row the change list shows under the same filters and search, as CSV."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return csv_response(changelist.get_queryset(request))

    @admin.action(description="Export selected rows as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return csv_response(queryset)
