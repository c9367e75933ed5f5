"""Full CDS representations of bill statements and sections (CDS-WG3-01 §10.5, §10.6).

``account_number`` is derived from the account; which fields a client sees is the policy's job.
"""

from rest_framework import serializers

from bills.models import BillSection, BillStatement
from cdsapi.api.serializers import AccountNumberSlot, CdsModelSerializer


class BillStatementSerializer(CdsModelSerializer):
    cds_account_id = serializers.CharField(source="account.cds_account_id")
    account_number = AccountNumberSlot()

    class Meta:
        model = BillStatement
        fields = [
            "cds_billstatement_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "cds_account_id",
            "account_number",
            "statement_date",
            "currency",
            "file_uri",
            "file_mimetype",
            "previous_balance_amount",
            "previous_balance_paid",
            "previous_balance_unpaid",
            "new_charges_amount",
            "new_charges",
            "new_balance_amount",
            "amount_due",
            "amount_due_date",
            "shutoff_prevention_minimum_due",
            "shutoff_prevention_date",
            "account_programs",
        ]


class BillSectionSerializer(CdsModelSerializer):
    cds_billstatement_id = serializers.CharField(
        source="statement.cds_billstatement_id", default=None
    )
    cds_account_id = serializers.CharField(source="account.cds_account_id")
    account_number = AccountNumberSlot()

    class Meta:
        model = BillSection
        fields = [
            "cds_billsection_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "cds_billstatement_id",
            "cds_account_id",
            "account_number",
            "section_types",
            "start_date",
            "end_date",
            "currency",
            "distribution_entity",
            "supply_entity",
            "related_servicecontracts",
            "related_servicepoints",
            "related_meterdevices",
            "related_billsections",
            "usage_details",
            "cost_details",
            "line_items",
        ]
