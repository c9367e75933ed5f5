from cdsapi.api.exceptions import InvalidRequest
from cdsapi.api.schema import cds_list_schema
from cdsapi.api.views import CdsListView
from cdsapi.grants.policy import Policy, Rule
from usage.aggregation import AGGREGATION_TYPES
from usage.filters import (
    AccountNumbers,
    After,
    Before,
    NumberIds,
    RelatedIds,
    SegmentIds,
)


@cds_list_schema("usage-segments")
class UsageSegmentsView(CdsListView):
    """``GET /cds-customerdata-api/v1/usage-segments`` (CDS-WG3-01 §10.8.8)."""

    envelope = "usage_segments"
    rule = "usage_rule"
    # The usage rule writes segments straight to JSON (see usage.serving).
    filters = (
        SegmentIds("cds_usagesegment_ids", "cds_usagesegment_id"),
        Before("before", "segment_start__lte"),
        After("after", "segment_end__gte"),
        RelatedIds("cds_account_ids", "related_accounts"),
        AccountNumbers("account_numbers", "account_number"),
        RelatedIds("cds_servicecontract_ids", "related_servicecontracts"),
        NumberIds("contract_numbers", "related_servicecontracts", "contracts", "contract_number"),
        RelatedIds("cds_servicepoint_ids", "related_servicepoints"),
        NumberIds("servicepoint_numbers", "related_servicepoints", "points", "servicepoint_number"),
        RelatedIds("cds_meterdevice_ids", "related_meterdevices"),
        NumberIds("meter_numbers", "related_meterdevices", "meters", "meter_number"),
        RelatedIds("cds_billsection_ids", "related_billsections"),
    )
    extra_params = ("aggregation_type", "cursor")

    def get_rule(self, policy: Policy, params: dict[str, str]) -> Rule:
        requested = params.get("aggregation_type")
        if requested is not None and requested not in AGGREGATION_TYPES:
            raise InvalidRequest(
                f"aggregation_type: expected one of {', '.join(AGGREGATION_TYPES)}, "
                f"got {requested!r}"
            )
        return policy.usage_rule(requested)
