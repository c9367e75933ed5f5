from django.contrib import admin

from bills.models import BillSection, BillStatement
from cdsapi.admin import ImportedDataAdmin, column


@admin.register(BillStatement)
class BillStatementAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_billstatement_id", "Bill statement ID"),
        "account",
        "statement_date",
        "amount_due",
        "currency",
    ]
    list_filter = ["statement_date"]
    search_fields = ["cds_billstatement_id", "account__cds_account_id"]
    date_hierarchy = "statement_date"


@admin.register(BillSection)
class BillSectionAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_billsection_id", "Bill section ID"),
        "statement",
        "account",
        "start_date",
        "end_date",
    ]
    search_fields = ["cds_billsection_id", "account__cds_account_id"]
    date_hierarchy = "start_date"
