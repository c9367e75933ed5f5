from django.contrib import admin

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from cdsapi.admin import ImportedDataAdmin, ImportedDataInline


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


@admin.register(Account)
class AccountAdmin(ImportedDataAdmin):
    list_display = ["cds_account_id", "cds_synced"]
    search_fields = ["cds_account_id", "versions__account_number", "versions__account_name"]
    filter_horizontal = ["holders"]
    inlines = [AccountVersionInline]


@admin.register(ServiceContract)
class ServiceContractAdmin(ImportedDataAdmin):
    list_display = ["cds_servicecontract_id", "account", "contract_number", "contract_status"]
    list_filter = ["contract_status"]
    search_fields = ["cds_servicecontract_id", "contract_number", "account__cds_account_id"]


@admin.register(ServicePoint)
class ServicePointAdmin(ImportedDataAdmin):
    list_display = ["cds_servicepoint_id", "servicepoint_number", "timezone"]
    search_fields = ["cds_servicepoint_id", "servicepoint_number"]


@admin.register(MeterDevice)
class MeterDeviceAdmin(ImportedDataAdmin):
    list_display = ["cds_meterdevice_id", "meter_number"]
    search_fields = ["cds_meterdevice_id", "meter_number"]
