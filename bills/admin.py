from django.contrib import admin
from django.db import models

from bills.models import BillSection, BillStatement
from cdsapi.admin import ImportedDataAdmin, column, input_filter

ACCOUNT = input_filter("Account ID", "account", "account__cds_account_id")


@admin.register(BillStatement)
class BillStatementAdmin(ImportedDataAdmin):
    list_display = [
        column("cds_billstatement_id", "Bill statement ID"),
        "account",
        "statement_date",
        "amount_due",
        "currency",
    ]
    list_select_related = ["account"]
    list_filter = [ACCOUNT, "statement_date"]
    # Shown, never edited: the form field only needs Django 6's scheme to stay quiet.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
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
    list_select_related = ["statement", "account"]
    list_filter = [ACCOUNT]
    search_fields = ["cds_billsection_id", "account__cds_account_id"]
    date_hierarchy = "start_date"
