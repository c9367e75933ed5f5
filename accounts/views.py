from accounts.serializers import AccountSerializer
from cdsapi.api.filters import AccountFieldList, IdList, Search
from cdsapi.api.views import CdsListView


class AccountsView(CdsListView):
    """``GET /cds-customerdata-api/v1/accounts`` (CDS-WG3-01 §10.1.6)."""

    envelope = "accounts"
    rule = "accounts_rule"
    serializer_class = AccountSerializer
    filters = (
        IdList("cds_account_ids", "account__cds_account_id"),
        AccountFieldList("customer_numbers", "customer_number"),
        AccountFieldList("account_numbers", "account_number"),
        AccountFieldList("account_statuses", "account_status"),
        Search(),
    )
