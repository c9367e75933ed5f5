"""The upstream object rules that need data of their own: numbers as of issue, sync_until
freezing every kind of object, filters over hidden fields, q over shown fields only."""

from datetime import UTC, date, datetime

import pytest

from accounts.models import ServiceContract
from cdsapi.grants import lifecycle
from tests.factories import (
    AccountFactory,
    AccountVersionFactory,
    ApplicationFactory,
    BillSectionFactory,
    BillStatementFactory,
    MeterDeviceFactory,
    ServiceContractFactory,
    ServicePointFactory,
    UserFactory,
)
from tests.usage_data import load_usage, segment

JAN = datetime(2025, 1, 1, tzinfo=UTC)
JUN = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def world(db):
    """acc-a renumbered on 1 June; a statement before and after; a contract with a point and
    a meter; acc-b (never granted) with a contract of the same number pattern."""
    account = AccountFactory(cds_account_id="acc-a")
    AccountVersionFactory(account=account, cds_modified=JAN, account_number="OLD-1")
    AccountVersionFactory(account=account, cds_modified=JUN, account_number="NEW-1")
    BillStatementFactory(
        cds_billstatement_id="bst-may", account=account, statement_date=date(2025, 5, 5)
    )
    BillStatementFactory(
        cds_billstatement_id="bst-jul", account=account, statement_date=date(2025, 7, 5)
    )
    contract = ServiceContractFactory(
        cds_servicecontract_id="sc-a",
        account=account,
        contract_number="SA-A",
        rateplan_code="E-TOU",
        contract_address="1 Elm St",
    )
    point = ServicePointFactory(cds_servicepoint_id="sp-a")
    point.current_servicecontracts.add(contract)
    meter = MeterDeviceFactory(cds_meterdevice_id="md-a", meter_number="M-A")
    meter.current_servicepoints.add(point)
    late = ServiceContractFactory(
        cds_servicecontract_id="sc-late", account=account, cds_modified=JUN, contract_number="SA-L"
    )
    BillSectionFactory(
        cds_billsection_id="bsec-a",
        statement=BillStatementFactory(cds_billstatement_id="bst-jan", account=account),
        related_servicecontracts=["sc-a", "sc-b"],
    )
    other = AccountFactory(cds_account_id="acc-b")
    AccountVersionFactory(account=other, account_number="B-1")
    ServiceContractFactory(cds_servicecontract_id="sc-b", account=other, contract_number="SA-B")
    return late


def token_over(accounts: list[str], *entries: dict) -> str:
    scope = " ".join(e["type"] for e in entries)
    grant = lifecycle.create_grant(ApplicationFactory(), accounts, list(entries), scope=scope)
    return lifecycle.issue_token(grant)[0]


def token(*entries: dict) -> str:
    scope = " ".join(e["type"] for e in entries)
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-a"], list(entries), scope=scope)
    return lifecycle.issue_token(grant)[0]


def test_a_statements_account_number_is_the_one_in_force_when_it_was_issued(world, api):
    tok = token({"type": "cds_bill_statements_1"})
    rows = api.rows("bill-statements", tok, "bill_statements")
    numbers = {r["cds_billstatement_id"]: r["account_number"] for r in rows}
    assert numbers["bst-may"] == "OLD-1"
    assert numbers["bst-jul"] == "NEW-1"


def test_sync_until_freezes_accounts_statements_and_contracts(world, api):
    cutoff = "2025-05-31T00:00:00Z"
    tok = token(
        {
            "type": "cds_service_contracts_1",
            "sync_until": cutoff,
            "include_account_numbers": True,
            "include_contract_numbers": True,
        },
        {"type": "cds_bill_statements_1", "sync_until": cutoff},
    )
    [account] = api.rows("accounts", tok, "accounts")
    assert account["account_number"] == "OLD-1"
    assert account["cds_synced"] <= cutoff
    statements = api.rows("bill-statements", tok, "bill_statements")
    assert [s["cds_billstatement_id"] for s in statements] == ["bst-may", "bst-jan"]
    contracts = api.rows("service-contracts", tok, "service_contracts")
    # sc-late was modified after the cutoff and this server keeps no history of contracts.
    assert [c["cds_servicecontract_id"] for c in contracts] == ["sc-a"]


def test_sync_until_ends_the_usage_window(db, api):
    load_usage([segment("us-1", JAN, [[{"eu": 1}]] * 96)])
    tok = lifecycle.issue_token(
        lifecycle.create_grant(
            ApplicationFactory(),
            ["acc-u"],
            [{"type": "cds_usage_1", "sync_until": "2025-01-01T06:00:00Z"}],
        )
    )[0]
    [piece] = api.rows("usage-segments", tok, "usage_segments")
    assert piece["segment_end"] == "2025-01-01T06:00:00Z"
    assert len(piece["values"]) == 24


@pytest.mark.parametrize(
    ("endpoint", "param", "entry"),
    [
        ("service-contracts", "contract_numbers", {"type": "cds_service_contracts_1"}),
        ("meter-devices", "meter_number", {"type": "cds_meters_1"}),
        ("usage-segments", "meter_numbers", {"type": "cds_usage_1"}),
        ("usage-segments", "contract_numbers", {"type": "cds_usage_1"}),
    ],
)
def test_a_filter_on_a_hidden_field_is_403_not_an_oracle(world, api, endpoint, param, entry):
    tok = token(entry)
    response = api.get(endpoint, tok, **{param: "SA-A"})
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("endpoint", "envelope", "param", "value", "entry", "expected"),
    [
        (
            "service-contracts",
            "service_contracts",
            "contract_numbers",
            "SA-A SA-B",
            {"type": "cds_service_contracts_1", "include_contract_numbers": True},
            ["sc-a"],
        ),
        (
            "meter-devices",
            "meter_devices",
            "meter_number",
            "M-A",
            {"type": "cds_meters_1", "include_meter_numbers": True},
            ["md-a"],
        ),
        (
            "bill-sections",
            "bill_sections",
            "contract_numbers",
            "SA-B",
            {"type": "cds_service_bills_1"},
            [],
        ),
        (
            "bill-sections",
            "bill_sections",
            "contract_numbers",
            "SA-A",
            {"type": "cds_service_bills_1"},
            ["bsec-a"],
        ),
    ],
)
def test_number_filters_match_visible_objects_when_shown(
    world, api, endpoint, envelope, param, value, entry, expected
):
    rows = api.rows(endpoint, token(entry), envelope, **{param: value})
    key = next(k for k in rows[0] if k.endswith("_id")) if rows else None
    assert [r[key] for r in rows] == expected


def test_sections_name_only_visible_contracts(world, api):
    [section] = api.rows("bill-sections", token({"type": "cds_service_bills_1"}), "bill_sections")
    assert section["related_servicecontracts"] == ["sc-a"]


def test_q_searches_only_the_fields_the_grant_shows(world, api):
    hidden = token({"type": "cds_service_contracts_1"})
    assert api.rows("service-contracts", hidden, "service_contracts", q="e-tou") == []
    shown = token({"type": "cds_service_contracts_1", "include_rate_plans": True})
    rows = api.rows("service-contracts", shown, "service_contracts", q="e-tou")
    assert [r["cds_servicecontract_id"] for r in rows] == ["sc-a"]


def test_seed_grants_do_not_reach_the_new_endpoints(world, api, token_for):
    tok = token_for(["acc-a"], [{"type": "cds_current_accounts_details"}])
    for endpoint in ("service-contracts", "service-points", "meter-devices"):
        assert api.get(endpoint, tok).status_code == 403


def test_a_program_scope_shows_only_its_listed_programs(db, api):
    account = AccountFactory(cds_account_id="acc-p")
    programs = [
        {"id": "p1", "program_number": "SOLAR-1", "types": ["active"], "name": "Solar"},
        {"id": "p2", "program_number": "CARE", "types": ["low_income"], "name": "CARE"},
    ]
    AccountVersionFactory(account=account, account_programs=programs)
    grant = lifecycle.create_grant(
        ApplicationFactory(),
        ["acc-p"],
        [{"type": "cds_account_programs_1", "account_programs": ["SOLAR-1"]}],
    )
    [row] = api.rows("accounts", lifecycle.issue_token(grant)[0], "accounts")
    assert [p["program_number"] for p in row["account_programs"]] == ["SOLAR-1"]
    both = lifecycle.create_grant(
        ApplicationFactory(),
        ["acc-p"],
        [
            {"type": "cds_account_programs_1", "account_programs": ["SOLAR-1"]},
            {"type": "cds_accounts_1", "include_account_programs": True},
        ],
    )
    [row] = api.rows("accounts", lifecycle.issue_token(both)[0], "accounts")
    assert len(row["account_programs"]) == 2


# -- found by an outside attack (each was a leak or wrong data before) -----------------------


def test_a_parent_held_by_another_customer_is_never_brought_in(db, api):
    mine, theirs = UserFactory(), UserFactory()
    parent = AccountFactory(cds_account_id="acc-theirs")
    parent.holders.add(theirs)
    AccountVersionFactory(account=parent, account_number="SECRET")
    child = AccountFactory(cds_account_id="acc-mine")
    child.holders.add(mine)
    AccountVersionFactory(account=child, parent=parent)
    tok = token_over(["acc-mine"], {"type": "cds_accounts_1", "include_account_numbers": True})
    rows = api.rows("accounts", tok, "accounts")
    assert [(r["cds_account_id"], r["cds_account_parent"]) for r in rows] == [("acc-mine", None)]
    assert api.rows("accounts", tok, "accounts", q="secret") == []
    parent.holders.add(mine)
    rows = api.rows("accounts", tok, "accounts", account_numbers="SECRET")
    assert [r["cds_account_id"] for r in rows] == ["acc-theirs"]


def test_statement_ids_on_sections_match_only_statements_the_token_reads(world, api):
    tok = token({"type": "cds_service_bills_1"})
    assert api.rows("bill-sections", tok, "bill_sections", cds_billstatement_ids="bst-jan") == []
    both = token({"type": "cds_service_bills_1", "include_bill_statements": True})
    rows = api.rows("bill-sections", both, "bill_sections", cds_billstatement_ids="bst-jan")
    assert [r["cds_billsection_id"] for r in rows] == ["bsec-a"]


def test_a_meter_only_linked_through_a_previous_contract_is_not_the_accounts(world, api):
    other = ServiceContractFactory(cds_servicecontract_id="sc-z", contract_number="SA-Z")
    point = ServicePointFactory(cds_servicepoint_id="sp-z")
    point.current_servicecontracts.add(other)
    point.previous_servicecontracts.add(ServiceContract.objects.get(cds_servicecontract_id="sc-a"))
    MeterDeviceFactory(cds_meterdevice_id="md-z").current_servicepoints.add(point)
    tok = token({"type": "cds_meters_1", "include_meter_numbers": True})
    meters = api.rows("meter-devices", tok, "meter_devices")
    assert [m["cds_meterdevice_id"] for m in meters] == ["md-a"]


def test_account_numbers_on_statements_match_the_number_served(world, api):
    tok = token({"type": "cds_bill_statements_1"})
    rows = api.rows("bill-statements", tok, "bill_statements", account_numbers="OLD-1")
    assert [r["cds_billstatement_id"] for r in rows] == ["bst-may", "bst-jan"]
    rows = api.rows("bill-statements", tok, "bill_statements", account_numbers="NEW-1")
    assert [r["cds_billstatement_id"] for r in rows] == ["bst-jul"]


def test_value_types_move_cost_indexes_with_their_formats(db, api):
    formats = [
        {"id": "kw", "type": "electric_demand", "units": "kW", "demand_type": "peak"},
        {"id": "kwh", "type": "electric_usage", "units": "kWh", "direction": "forward"},
        {"id": "usd", "type": "cost", "currency": "USD", "indexes": [1]},
        {"id": "usd-kw", "type": "cost", "currency": "USD", "indexes": [0]},
    ]
    values = [[{"ed": 2}, {"eu": 1}, {"c": "0.5"}, {"c": "0.1"}]]
    load_usage([segment("us-1", JAN, values, formats=formats)])
    grant = lifecycle.create_grant(
        ApplicationFactory(),
        ["acc-u"],
        [{"type": "cds_usage_1", "include_usage_segment_value_types": ["electric_usage", "cost"]}],
    )
    [seg] = api.rows("usage-segments", lifecycle.issue_token(grant)[0], "usage_segments")
    assert [(f["id"], f.get("indexes")) for f in seg["formats"]] == [("kwh", None), ("usd", [0])]
    assert [list(v) for v in seg["values"][0]] == [["eu"], ["c"]]


# -- found by a second outside attack ---------------------------------------------------------


def test_q_never_finds_a_program_the_grant_hides(db, api):
    account = AccountFactory(cds_account_id="acc-p")
    programs = [
        {"id": "p1", "program_number": "CARE", "types": ["low_income"], "name": "CARE"},
        {"id": "p2", "program_number": "SOLARX", "types": ["active"], "name": "Solar"},
    ]
    AccountVersionFactory(account=account, account_programs=programs)
    tok = token_over(["acc-p"], {"type": "cds_account_programs_1", "account_programs": ["CARE"]})
    assert api.rows("accounts", tok, "accounts", q="solarx") == []
    assert [r["cds_account_id"] for r in api.rows("accounts", tok, "accounts", q="care")] == [
        "acc-p"
    ]


def test_q_on_contracts_matches_the_account_number_shown(world, api):
    tok = token({"type": "cds_service_contracts_1", "include_account_numbers": True})
    rows = api.rows("service-contracts", tok, "service_contracts", q="new-1")
    assert sorted(r["cds_servicecontract_id"] for r in rows) == ["sc-a", "sc-late"]
    hidden = token({"type": "cds_service_contracts_1"})
    assert api.rows("service-contracts", hidden, "service_contracts", q="new-1") == []


def test_contracts_and_meters_of_two_entries_bring_the_linking_points(world, api):
    tok = token({"type": "cds_meters_1"}, {"type": "cds_service_contracts_1"})
    points = api.rows("service-points", tok, "service_points")
    assert [p["cds_servicepoint_id"] for p in points] == ["sp-a"]
    [meter] = api.rows("meter-devices", tok, "meter_devices")
    assert meter["current_servicepoints"] == ["sp-a"]


def test_sections_ending_after_sync_until_are_not_served(world, api):
    late = BillSectionFactory(
        cds_billsection_id="bsec-late",
        statement=BillStatementFactory(account=world.account),
        start_date=date(2025, 5, 1),
        end_date=date(2025, 6, 30),
    )
    tok = token({"type": "cds_service_bills_1", "sync_until": "2025-06-15T00:00:00Z"})
    ids = [s["cds_billsection_id"] for s in api.rows("bill-sections", tok, "bill_sections")]
    assert late.cds_billsection_id not in ids
    assert ids == ["bsec-a"]


def test_a_malformed_percent_escape_is_400_not_500(world, api):
    tok = token({"type": "cds_accounts_1"})
    for headers in ({}, {"HTTP_AUTHORIZATION": f"Bearer {tok}"}):
        response = api.client.get("/cds-customerdata-api/v1/accounts?q=%ZZ", **headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
    token_response = api.client.post("/oauth/token?x=%ZZ", {"grant_type": "client_credentials"})
    assert token_response.status_code == 400
    assert "%-escape" in token_response.json()["error_description"]
