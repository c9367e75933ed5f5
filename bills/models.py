"""Bill statements and bill sections (CDS-WG3-01 §10.5, §10.6).

Money is stored in ``ExactDecimalField`` columns; the nested lists (new charges, usage and
cost details, line items) keep the API's shape in exact-decimal JSON, since they are always
served whole with their parent and never queried on their own.
"""

from django.db import models

from accounts.models import Account
from cdsapi.fields import ExactDecimalField, ExactJSONField
from cdsapi.models import CdsObject


class BillStatement(CdsObject):
    cds_billstatement_id = models.CharField(max_length=128, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="bill_statements")
    statement_date = models.DateField()
    currency = models.CharField(max_length=3)
    file_uri = models.URLField(max_length=1024, null=True, blank=True)
    file_mimetype = models.CharField(max_length=128, null=True, blank=True)
    previous_balance_amount = ExactDecimalField(null=True, blank=True)
    previous_balance_paid = ExactDecimalField(null=True, blank=True)
    previous_balance_unpaid = ExactDecimalField(null=True, blank=True)
    new_charges_amount = ExactDecimalField(null=True, blank=True)
    new_charges = ExactJSONField(null=True, blank=True)
    new_balance_amount = ExactDecimalField(null=True, blank=True)
    amount_due = ExactDecimalField()
    amount_due_date = models.DateField()
    shutoff_prevention_minimum_due = ExactDecimalField(null=True, blank=True)
    shutoff_prevention_date = models.DateField(null=True, blank=True)
    account_programs = ExactJSONField(null=True, blank=True)

    class Meta:
        ordering = ["-statement_date", "-cds_modified", "cds_billstatement_id"]
        indexes = [models.Index(fields=["account", "statement_date"])]

    def __str__(self) -> str:
        return self.cds_billstatement_id


class BillSection(CdsObject):
    cds_billsection_id = models.CharField(max_length=128, unique=True)
    statement = models.ForeignKey(
        BillStatement, on_delete=models.PROTECT, null=True, blank=True, related_name="sections"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="bill_sections")
    section_types = ExactJSONField(default=list)
    start_date = models.DateField()
    end_date = models.DateField()
    currency = models.CharField(max_length=3)
    distribution_entity = ExactJSONField(null=True, blank=True)
    supply_entity = ExactJSONField(null=True, blank=True)
    related_servicecontracts = ExactJSONField(default=list, blank=True)
    related_servicepoints = ExactJSONField(default=list, blank=True)
    related_meterdevices = ExactJSONField(default=list, blank=True)
    related_billsections = ExactJSONField(default=list, blank=True)
    usage_details = ExactJSONField(default=list, blank=True)
    cost_details = ExactJSONField(default=list, blank=True)
    line_items = ExactJSONField(null=True, blank=True)

    class Meta:
        ordering = ["account", "start_date", "-cds_modified", "cds_billsection_id"]
        indexes = [models.Index(fields=["account", "start_date"])]

    def __str__(self) -> str:
        return self.cds_billsection_id
