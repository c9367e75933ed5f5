"""The upstream filters on the existing endpoints (CDS-WG3-01 §10): reference filters match
what is served, and a filter on a field the grant hides is 403, never an oracle."""

from datetime import UTC, datetime

import pytest

from accounts.models import Account
from tests.factories import BillSectionFactory, BillStatementFactory
from tests.usage_data import load_usage, segment
from usage.models import UsageSegment

T0 = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)
ACCOUNTS = {"type": "cds_current_accounts_details"}
BILLS = {"type": "cds_bill_statements"}
USAGE = {"type": "cds_usage"}


@pytest.fixture
def world(db):
    """acc-u and acc-v, each with a contract, point and meter; a segment of acc-u naming both
    accounts' objects; a bill section of each account naming both contracts."""
    seg = segment("us-1", T0, [[{"eu": 1}]])
    seg["related_servicecontracts"] = ["sc-acc-u", "sc-acc-v"]
    seg["related_servicepoints"] = ["sp-acc-u", "sp-acc-v"]
    load_usage([seg], accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    for account in Account.objects.all():
        BillSectionFactory(
            cds_billsection_id=f"bsec-{account.cds_account_id}",
            statement=BillStatementFactory(account=account),
            related_servicecontracts=["sc-acc-u", "sc-acc-v"],
        )
    UsageSegment.objects.filter(cds_usagesegment_id="us-1").update(
        related_json='{"related_accounts":["acc-u"],"related_servicecontracts":["sc-acc-u",'
        '"sc-acc-v"],"related_servicepoints":["sp-acc-u","sp-acc-v"],'
        '"related_billsections":["bsec-acc-u","bsec-acc-v"]}'
    )


def ids(rows, key):
    return [r[key] for r in rows]


def test_customer_numbers_filter_accounts_when_the_grant_shows_them(world, api, token_for):
    shown = token_for(["acc-u"], [{**ACCOUNTS, "fields": ["customer_number"]}])
    assert api.rows("accounts", shown, "accounts", customer_numbers="nobody") == []
    hidden = token_for(["acc-u"], [{**ACCOUNTS, "fields": ["account_name"]}])
    assert api.get("accounts", hidden, customer_numbers="nobody").status_code == 403


@pytest.mark.parametrize(
    ("param", "mine", "theirs"),
    [
        ("cds_servicecontract_ids", "sc-acc-u", "sc-acc-v"),
        ("cds_servicepoint_ids", "sp-acc-u", "sp-acc-v"),
        ("cds_billsection_ids", "bsec-acc-u", "bsec-acc-v"),
    ],
)
@pytest.mark.parametrize("aggregation", ["intervals", "daily_aggregates"])
def test_usage_reference_filters_match_only_what_is_served(
    world, api, token_for, param, mine, theirs, aggregation
):
    token = token_for(["acc-u"], [USAGE, BILLS])
    query = {"aggregation_type": aggregation}
    [row] = api.rows("usage-segments", token, "usage_segments", **{param: mine}, **query)
    assert theirs not in row[f"related_{param[4:-4]}s"]
    hidden = api.rows("usage-segments", token, "usage_segments", **{param: theirs}, **query)
    missing = api.rows("usage-segments", token, "usage_segments", **{param: "nope"}, **query)
    assert hidden == missing == []


def test_bill_sections_of_a_bills_only_grant_are_not_named_on_segments(world, api, token_for):
    token = token_for(["acc-u"], [USAGE])
    rows = api.rows("usage-segments", token, "usage_segments", cds_billsection_ids="bsec-acc-u")
    assert rows == []


@pytest.mark.parametrize("param", ["contract_numbers", "servicepoint_numbers", "meter_numbers"])
def test_usage_filters_on_fields_the_seed_grants_never_show_are_403(world, api, token_for, param):
    token = token_for(["acc-u"], [USAGE])
    response = api.get("usage-segments", token, **{param: "X-1"})
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"


def test_bill_section_filters(world, api, token_for):
    token = token_for(["acc-u", "acc-v"], [BILLS])
    rows = api.rows("bill-sections", token, "bill_sections", cds_account_ids="acc-v")
    assert ids(rows, "cds_billsection_id") == ["bsec-acc-v"]
    rows = api.rows("bill-sections", token, "bill_sections", cds_servicecontract_ids="sc-acc-u")
    assert ids(rows, "cds_billsection_id") == ["bsec-acc-u", "bsec-acc-v"]
    mine = token_for(["acc-u"], [BILLS])
    hidden = api.rows("bill-sections", mine, "bill_sections", cds_servicecontract_ids="sc-acc-v")
    missing = api.rows("bill-sections", mine, "bill_sections", cds_servicecontract_ids="sc-x")
    assert hidden == missing == []
    assert api.get("bill-sections", mine, account_numbers="N-acc-u").status_code == 403
    assert api.get("bill-sections", mine, contract_numbers="SA-1").status_code == 403
    numbers = token_for(["acc-u"], [BILLS, {**ACCOUNTS, "fields": ["account_number"]}])
    rows = api.rows("bill-sections", numbers, "bill_sections", account_numbers="N-acc-u")
    assert ids(rows, "cds_billsection_id") == ["bsec-acc-u"]
