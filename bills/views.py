from bills.serializers import BillSectionSerializer, BillStatementSerializer
from cdsapi.api.filters import (
    AccountFieldList,
    ArrayIds,
    DateBound,
    IdList,
    ObjectFieldList,
    ShownIds,
)
from cdsapi.api.schema import cds_list_schema
from cdsapi.api.views import CdsListView


@cds_list_schema("bill-statements")
class BillStatementsView(CdsListView):
    """``GET /cds-customerdata-api/v1/bill-statements`` (CDS-WG3-01 §10.5.4)."""

    envelope = "bill_statements"
    rule = "statements_rule"
    serializer_class = BillStatementSerializer
    filters = (
        IdList("cds_billstatement_ids", "cds_billstatement_id"),
        DateBound("before", "statement_date__lte"),
        DateBound("after", "statement_date__gte"),
        IdList("cds_account_ids", "account__cds_account_id"),
        AccountFieldList("account_numbers", "account_number"),
    )


@cds_list_schema("bill-sections")
class BillSectionsView(CdsListView):
    """``GET /cds-customerdata-api/v1/bill-sections`` (CDS-WG3-01 §10.6.7)."""

    envelope = "bill_sections"
    rule = "sections_rule"
    serializer_class = BillSectionSerializer
    filters = (
        IdList("cds_billsection_ids", "cds_billsection_id"),
        ShownIds(
            "cds_billstatement_ids", "statement__cds_billstatement_id", "cds_billstatement_id"
        ),
        DateBound("before", "start_date__lte"),
        DateBound("after", "end_date__gte"),
        IdList("cds_account_ids", "account__cds_account_id"),
        AccountFieldList("account_numbers", "account_number"),
        ArrayIds("cds_servicecontract_ids", "related_servicecontracts"),
        ObjectFieldList(
            "contract_numbers", "related_servicecontracts", "contracts", "contract_number"
        ),
    )
