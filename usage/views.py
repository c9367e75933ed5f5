from typing import Any

from cdsapi.authorization_details import AGGREGATION_TYPES
from cdsapi.exceptions import InvalidRequest
from cdsapi.filters import AccountFieldList, DateTimeBound, IdList
from cdsapi.policy import Policy, Rule
from cdsapi.views import CdsListView


class UsageSegmentIds(IdList):
    """Matches stored ids, and the derived ids of trimmed segments (``<id>~<start>~<end>``).

    Aggregates are built from many stored segments; their ids are matched once they are built.
    """

    def apply(self, rows: Any, value: list[str], rule: Any) -> Any:
        if rule.aggregation != "intervals":
            return rows
        return rows.filter(cds_usagesegment_id__in={v.split("~", 1)[0] for v in value})


class UsageSegmentsView(CdsListView):
    """``GET /cds-customerdata-api/v1/usage-segments`` (CDS-WG3-01 §10.8.8)."""

    envelope = "usage_segments"
    rule = "usage_rule"
    # The usage rule writes segments straight to JSON (see usage.serving).
    filters = (
        UsageSegmentIds("cds_usagesegment_ids", "cds_usagesegment_id"),
        DateTimeBound("before", "segment_start__lte"),
        DateTimeBound("after", "segment_end__gte"),
        IdList("cds_account_ids", "account__cds_account_id"),
        IdList("cds_meterdevice_ids", "meter__cds_meterdevice_id"),
        AccountFieldList("account_numbers", "account_number"),
    )
    extra_params = ("aggregation_type",)

    def get_rule(self, policy: Policy, params: dict[str, str]) -> Rule:
        requested = params.get("aggregation_type")
        if requested is not None and requested not in AGGREGATION_TYPES:
            raise InvalidRequest(
                f"aggregation_type: expected one of {', '.join(AGGREGATION_TYPES)}, "
                f"got {requested!r}"
            )
        return policy.usage_rule(requested)
