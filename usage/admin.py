from django.contrib import admin

from cdsapi.admin import ImportedDataAdmin
from usage.models import UsageSegment


@admin.register(UsageSegment)
class UsageSegmentAdmin(ImportedDataAdmin):
    list_display = [
        "cds_usagesegment_id",
        "account",
        "meter",
        "segment_start",
        "segment_end",
        "interval",
    ]
    list_select_related = ["account", "meter"]
    search_fields = ["cds_usagesegment_id", "account__cds_account_id", "meter__cds_meterdevice_id"]
    date_hierarchy = "segment_start"
