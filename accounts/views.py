from accounts.serializers import (
    AccountSerializer,
    MeterDeviceSerializer,
    ServiceContractSerializer,
    ServicePointSerializer,
)
from cdsapi.api.filters import (
    AccountFieldList,
    AnyOfList,
    IdList,
    LinkIds,
    OwnFieldList,
    Search,
)
from cdsapi.api.schema import cds_list_schema
from cdsapi.api.views import CdsListView


@cds_list_schema("accounts")
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


@cds_list_schema("service-contracts")
class ServiceContractsView(CdsListView):
    """``GET /cds-customerdata-api/v1/service-contracts`` (CDS-WG3-01 §10.2.7)."""

    envelope = "service_contracts"
    rule = "contracts_rule"
    serializer_class = ServiceContractSerializer
    filters = (
        IdList("cds_servicecontract_ids", "cds_servicecontract_id"),
        AccountFieldList("account_numbers", "account_number"),
        OwnFieldList("contract_numbers", "contract_number"),
        IdList("contract_statuses", "contract_status"),
        AnyOfList("contract_types", "contract_types"),
        AnyOfList("service_types", "service_types"),
        Search(),
    )


@cds_list_schema("service-points")
class ServicePointsView(CdsListView):
    """``GET /cds-customerdata-api/v1/service-points`` (CDS-WG3-01 §10.3.5)."""

    envelope = "service_points"
    rule = "points_rule"
    serializer_class = ServicePointSerializer
    filters = (
        IdList("cds_servicepoint_ids", "cds_servicepoint_id"),
        IdList("servicepoint_numbers", "servicepoint_number"),
        LinkIds("current_servicecontracts", "current_servicecontracts", "cds_servicecontract_id"),
        LinkIds("previous_servicecontracts", "previous_servicecontracts", "cds_servicecontract_id"),
        Search(),
    )


@cds_list_schema("meter-devices")
class MeterDevicesView(CdsListView):
    """``GET /cds-customerdata-api/v1/meter-devices`` (CDS-WG3-01 §10.4.5; its number filter
    is ``meter_number``, singular, as the spec names it)."""

    envelope = "meter_devices"
    rule = "meters_rule"
    serializer_class = MeterDeviceSerializer
    filters = (
        IdList("cds_meterdevice_ids", "cds_meterdevice_id"),
        OwnFieldList("meter_number", "meter_number"),
        LinkIds("current_servicepoints", "current_servicepoints", "cds_servicepoint_id"),
        LinkIds("previous_servicepoints", "previous_servicepoints", "cds_servicepoint_id"),
        Search(),
    )
