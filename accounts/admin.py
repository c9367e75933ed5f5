from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from cdsapi.admin import ImportedDataAdmin, ImportedDataInline, column
from usage.admin import usage_chart


class AccountVersionInline(ImportedDataInline):
    model = AccountVersion
    fk_name = "account"
    ordering = ["-cds_modified"]
    fields = [
        "cds_modified",
        "cds_created",
        "account_number",
        "account_name",
        "account_status",
        "parent",
    ]
    verbose_name_plural = "Version history (newest first)"


def _links(rows: Iterable[Any], label: Callable[[Any], str]) -> str:
    """Admin links to these rows, one per line (or a dash)."""
    items = [
        format_html(
            '<a href="{}">{}</a>',
            reverse(f"admin:{r._meta.app_label}_{r._meta.model_name}_change", args=[r.pk]),
            label(r),
        )
        for r in rows
    ]
    return format_html_join(mark_safe("<br>"), "{}", ((i,) for i in items)) if items else "-"


@admin.register(Account)
class AccountAdmin(ImportedDataAdmin):
    list_display = ["account_id", "cds_synced"]
    search_fields = ["cds_account_id", "versions__account_number", "versions__account_name"]
    filter_horizontal = ["holders"]
    inlines = [AccountVersionInline]
    readonly_fields = ["contracts", "service_points", "meters", "latest_statements", "grants"]
    fieldsets = [
        (None, {"fields": ["cds_account_id", "holders", "cds_synced"]}),
        (
            "Connected",
            {
                "fields": [
                    "contracts",
                    "service_points",
                    "meters",
                    "latest_statements",
                    "grants",
                ]
            },
        ),
    ]

    @admin.display(description="Account ID", ordering="cds_account_id")
    def account_id(self, obj: Account) -> str:
        return obj.cds_account_id

    @admin.display(description="Service contracts")
    def contracts(self, obj: Account) -> str:
        return _links(
            obj.contracts.all(),
            lambda c: (
                f"{c.cds_servicecontract_id} ({c.contract_number or 'no number'}, "
                f"{c.contract_status})"
            ),
        )

    @admin.display(description="Service points (serving its contracts now or before)")
    def service_points(self, obj: Account) -> str:
        points = ServicePoint.objects.filter(
            Q(current_servicecontracts__account=obj) | Q(previous_servicecontracts__account=obj)
        ).distinct()
        return _links(points, lambda p: f"{p.cds_servicepoint_id} ({p.servicepoint_number or '-'})")

    @admin.display(description="Meters (now at those points)")
    def meters(self, obj: Account) -> str:
        meters = MeterDevice.objects.filter(
            current_servicepoints__current_servicecontracts__account=obj
        ).distinct()
        return _links(meters, lambda m: f"{m.cds_meterdevice_id} ({m.meter_number or '-'})")

    @admin.display(description="Latest bill statements")
    def latest_statements(self, obj: Account) -> str:
        statements = obj.bill_statements.order_by("-statement_date")[:12]
        return _links(statements, lambda s: f"{s.statement_date}: {s.cds_billstatement_id}")

    @admin.display(description="Grants sharing it")
    def grants(self, obj: Account) -> str:
        return _links(
            obj.cds_grants.select_related("client").order_by("-created"),
            lambda g: f"{g.pk}: {g.client.name}, {g.scope} ({g.status})",
        )


@admin.register(ServiceContract)
class ServiceContractAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_servicecontract_id", "Service contract ID"),
        "account",
        column("contract_number", "Contract number"),
        "contract_status",
    ]
    list_filter = ["contract_status"]
    search_fields = ["cds_servicecontract_id", "contract_number", "account__cds_account_id"]


@admin.register(ServicePoint)
class ServicePointAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_servicepoint_id", "Service point ID"),
        column("servicepoint_number", "Service point number"),
        "timezone",
    ]
    search_fields = ["cds_servicepoint_id", "servicepoint_number"]


@admin.register(MeterDevice)
class MeterDeviceAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_meterdevice_id", "Meter ID"),
        column("meter_number", "Meter number"),
    ]
    search_fields = ["cds_meterdevice_id", "meter_number"]
    readonly_fields = ["usage"]

    @admin.display(description="Usage (the latest 90 segments; hover a bar for its total)")
    def usage(self, obj: MeterDevice) -> str:
        latest = obj.usage_segments.order_by("-segment_start")[:90]
        return usage_chart(list(reversed(latest)))
