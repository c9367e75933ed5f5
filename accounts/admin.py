from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from cdsapi.admin import ImportedDataAdmin, ImportedDataInline, column, input_filter
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


def _for_grant_accounts(request: HttpRequest) -> bool:
    """Whether an autocomplete request comes from the grant form's accounts field."""
    asked = request.GET
    return (asked.get("app_label"), asked.get("model_name"), asked.get("field_name")) == (
        "cdsapi",
        "grant",
        "accounts",
    )


@admin.register(Account)
class AccountAdmin(ImportedDataAdmin):
    list_display = ["account_id", column("cds_synced", "Synced")]
    search_fields = [
        "cds_account_id",
        "versions__account_number",
        "versions__account_name",
        "holders__username",
        "holders__email",
    ]
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

    @staticmethod
    def with_label_data(queryset: QuerySet[Account]) -> QuerySet[Account]:
        """What ``autocomplete_label`` reads, in two queries for a whole page: the latest
        version of each account and its holders."""
        latest = Prefetch("versions", AccountVersion.objects.as_of(None), to_attr="newest")
        return queryset.prefetch_related(latest, "holders")

    @staticmethod
    def autocomplete_label(account: Account) -> str:
        """How an account reads where it is picked (the grant form's accounts): its id,
        number and name (latest version) and holders, e.g. "acc-r1 · no. 1000-0001 ·
        Alice Smith · held by alice"."""
        if hasattr(account, "newest"):  # prefetched (with_label_data)
            version = account.newest[0] if account.newest else None
        else:
            version = account.latest_version
        parts = [account.cds_account_id]
        if version is not None:
            if version.account_number:
                parts.append(f"no. {version.account_number}")
            if version.account_name:
                parts.append(version.account_name)
        holders = ", ".join(user.get_username() for user in account.holders.all())
        parts.append(f"held by {holders}" if holders else "no holder")
        return " · ".join(parts)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Account], search_term: str
    ) -> tuple[QuerySet[Account], bool]:
        """Searched by id, number, name (any version) and holder; for the grant form's
        accounts, also narrowed to the customer chosen in the form (``customer``, sent by
        ``cdsapi/grant_form.js``). Saving the grant checks the accounts against the customer
        again (``lifecycle.validate_grant``)."""
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if _for_grant_accounts(request):
            customer = request.GET.get("customer", "")
            if customer.isascii() and customer.isdigit():
                queryset = queryset.filter(holders__pk=customer)
            elif customer:
                queryset = queryset.none()
            queryset = self.with_label_data(queryset)
        return queryset, duplicates

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
    list_filter = [
        "contract_status",
        input_filter("Account ID", "account", "account__cds_account_id"),
    ]
    search_fields = ["cds_servicecontract_id", "contract_number", "account__cds_account_id"]


@admin.register(ServicePoint)
class ServicePointAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_servicepoint_id", "Service point ID"),
        column("servicepoint_number", "Service point number"),
        "timezone",
    ]
    list_filter = [
        input_filter(
            "Account ID",
            "account",
            "current_servicecontracts__account__cds_account_id",
            "previous_servicecontracts__account__cds_account_id",
        )
    ]
    search_fields = ["cds_servicepoint_id", "servicepoint_number"]


@admin.register(MeterDevice)
class MeterDeviceAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_meterdevice_id", "Meter ID"),
        column("meter_number", "Meter number"),
    ]
    list_filter = [
        input_filter(
            "Account ID",
            "account",
            "current_servicepoints__current_servicecontracts__account__cds_account_id",
        )
    ]
    search_fields = ["cds_meterdevice_id", "meter_number"]
    readonly_fields = ["daily_usage", "monthly_usage"]

    @admin.display(description="Daily usage (the 90 days up to its latest data)")
    def daily_usage(self, obj: MeterDevice) -> str:
        return usage_chart(obj, "daily_aggregates")

    @admin.display(description="Monthly usage (the 24 months up to its latest data)")
    def monthly_usage(self, obj: MeterDevice) -> str:
        return usage_chart(obj, "monthly_aggregates")
