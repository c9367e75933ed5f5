"""Upstream-vocabulary grants (CDS-WG3-01 §6-7): which objects and which keys each scope
shows, with its defaults and with every include_* field on.

The expected keys are written here from the upstream text (§10.x.1 object formats, §7.2
include fields), not read from the registry, so a registry mistake shows up as a failure.
"""

from typing import Any

import pytest
from django.core.management import call_command

from cdsapi.grants import lifecycle
from tests.factories import ApplicationFactory

META = {"cds_created", "cds_modified", "cds_synced"}

# REQUIRED keys of each object (WG3 §10.1.1, 10.2.1, 10.3.1, 10.4.1, 10.5.1, 10.6.1).
ACCOUNT_REQUIRED = META | {"cds_account_id", "cds_account_parent"}
CONTRACT_REQUIRED = META | {
    "cds_servicecontract_id",
    "cds_account_id",
    "contract_types",
    "contract_status",
    "service_types",
}
POINT_REQUIRED = META | {
    "cds_servicepoint_id",
    "servicepoint_number",
    "servicepoint_types",
    "current_servicecontracts",
    "previous_servicecontracts",
}
METER_REQUIRED = META | {
    "cds_meterdevice_id",
    "meter_types",
    "current_servicepoints",
    "previous_servicepoints",
}
STATEMENT_REQUIRED = META | {
    "cds_billstatement_id",
    "cds_account_id",
    "statement_date",
    "currency",
    "amount_due",
    "amount_due_date",
    "shutoff_prevention_minimum_due",
    "shutoff_prevention_date",
}
SECTION_REQUIRED = META | {
    "cds_billsection_id",
    "cds_billstatement_id",
    "cds_account_id",
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
}
SEGMENT_KEYS = META | {
    "cds_usagesegment_id",
    "related_aggregations",
    "related_accounts",
    "related_servicecontracts",
    "related_servicepoints",
    "related_meterdevices",
    "related_billsections",
    "segment_start",
    "segment_end",
    "interval",
    "formats",
    "values",
}

# The OPTIONAL keys each include field shows (WG3 §7.2.1.1 to §7.2.7.1).
ACCOUNT_NUMBERS = {"customer_number", "account_number", "account_entity"}
ACCOUNT_DETAILS = {
    "account_name",
    "account_address",
    "account_types",
    "account_status",
    "account_contacts",
}
CONTRACT_NUMBERS = {"contract_number", "contract_entity"}
RATE_PLANS = {"rateplan_code", "rateplan_name"}
CONTRACT_DETAILS = {"contract_address", "contract_start", "contract_end"}
STATEMENT_CHARGES = {
    "previous_balance_amount",
    "previous_balance_paid",
    "previous_balance_unpaid",
    "new_charges_amount",
    "new_charges",
    "new_balance_amount",
}

ENDPOINTS = {
    "accounts": "accounts",
    "service-contracts": "service_contracts",
    "service-points": "service_points",
    "meter-devices": "meter_devices",
    "bill-statements": "bill_statements",
    "bill-sections": "bill_sections",
    "usage-segments": "usage_segments",
}


@pytest.fixture
def sample(db, sample_path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")


def token(scope: str, entry: dict[str, Any], accounts: list[str]) -> str:
    grant = lifecycle.create_grant(
        ApplicationFactory(), accounts, [{"type": scope, **entry}], scope=scope
    )
    return lifecycle.issue_token(grant)[0]


def keys_by_endpoint(api, tok: str) -> dict[str, Any]:
    """Per endpoint: 403, or the set of key sets its rows show."""
    found = {}
    for endpoint, envelope in ENDPOINTS.items():
        response = api.get(endpoint, tok)
        if response.status_code == 403:
            found[endpoint] = 403
            continue
        assert response.status_code == 200, (endpoint, response.content)
        found[endpoint] = {frozenset(r) for r in response.data_[envelope]}
    return found


def test_cds_accounts_with_defaults_shows_only_the_selected_accounts_required_keys(sample, api):
    tok = token("cds_accounts_1", {}, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["accounts"] == {frozenset(ACCOUNT_REQUIRED)}
    assert {e for e, k in seen.items() if k == 403} == set(ENDPOINTS) - {"accounts"}
    rows = api.rows("accounts", tok, "accounts")
    assert [r["cds_account_id"] for r in rows] == ["acc-sample-r1"]


def test_cds_accounts_with_every_include_shows_numbers_details_and_programs(sample, api):
    every = {
        "include_account_numbers": True,
        "include_account_details": True,
        "include_account_programs": True,
    }
    tok = token("cds_accounts_1", every, ["acc-sample-r1"])
    keys = ACCOUNT_REQUIRED | ACCOUNT_NUMBERS | ACCOUNT_DETAILS | {"account_programs"}
    assert keys_by_endpoint(api, tok)["accounts"] == {frozenset(keys)}


def test_include_accounts_brings_in_the_parent_account(sample, api):
    tok = token("cds_accounts_1", {}, ["acc-sample-c1"])
    rows = api.rows("accounts", tok, "accounts")
    assert {r["cds_account_id"]: r["cds_account_parent"] for r in rows} == {
        "acc-sample-c1": "acc-sample-c0",
        "acc-sample-c0": None,
    }
    # The parent comes along as an account only: none of its bills or services.
    assert api.get("bill-statements", tok).status_code == 403


def test_cds_service_contracts_defaults(sample, api):
    tok = token("cds_service_contracts_1", {}, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["service-contracts"] == {frozenset(CONTRACT_REQUIRED)}
    assert seen["accounts"] == {frozenset(ACCOUNT_REQUIRED)}
    for endpoint in ("service-points", "meter-devices", "bill-statements", "bill-sections"):
        assert seen[endpoint] == 403
    rows = api.rows("service-contracts", tok, "service_contracts")
    assert sorted(r["cds_servicecontract_id"] for r in rows) == ["sc-sample-r1e", "sc-sample-r1g"]


def test_cds_service_contracts_every_include(sample, api):
    every = {
        "include_contract_numbers": True,
        "include_account_numbers": True,
        "include_account_details": True,
        "include_account_programs": True,
        "include_rate_plans": True,
        "include_service_contract_details": True,
        "include_service_programs": True,
        "include_meter_devices": True,
        "include_meter_numbers": True,
        "include_meter_apps": True,
    }
    tok = token("cds_service_contracts_1", every, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["service-contracts"] == {
        frozenset(
            CONTRACT_REQUIRED
            | CONTRACT_NUMBERS
            | RATE_PLANS
            | CONTRACT_DETAILS
            | {"service_programs", "account_number"}
        )
    }
    assert seen["meter-devices"] == {frozenset(METER_REQUIRED | {"meter_number", "meter_apps"})}
    # Contracts and meters together bring the points that link them (WG3 §7.2.2).
    assert seen["service-points"] == {frozenset(POINT_REQUIRED)}
    meters = api.rows("meter-devices", tok, "meter_devices")
    assert sorted(m["cds_meterdevice_id"] for m in meters) == ["md-sample-r1e", "md-sample-r1g"]
    assert all(m["current_servicepoints"] for m in meters)


def test_cds_meters_defaults_show_meters_without_their_numbers(sample, api):
    tok = token("cds_meters_1", {}, ["acc-sample-r2"])
    seen = keys_by_endpoint(api, tok)
    assert seen["meter-devices"] == {frozenset(METER_REQUIRED)}
    meters = api.rows("meter-devices", tok, "meter_devices")
    # Service points are not visible, so the links to them are empty.
    assert [m["current_servicepoints"] for m in meters] == [[]]


def test_cds_bill_statements_defaults_show_amount_due_and_the_account_number(sample, api):
    tok = token("cds_bill_statements_1", {}, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["bill-statements"] == {frozenset(STATEMENT_REQUIRED | {"account_number"})}
    assert seen["accounts"] == {frozenset(ACCOUNT_REQUIRED | ACCOUNT_NUMBERS)}
    assert seen["bill-sections"] == 403


def test_cds_bill_statements_every_include(sample, api):
    every = {
        "include_bill_statement_files": True,
        "include_bill_statement_charges": True,
        "include_bill_statement_programs": True,
    }
    tok = token("cds_bill_statements_1", every, ["acc-sample-r1"])
    keys = STATEMENT_REQUIRED | STATEMENT_CHARGES | {"account_number", "account_programs"}
    keys |= {"file_uri", "file_mimetype"}
    assert keys_by_endpoint(api, tok)["bill-statements"] == {frozenset(keys)}


def test_cds_service_bills_defaults_show_sections_without_line_items(sample, api):
    tok = token("cds_service_bills_1", {}, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["bill-sections"] == {frozenset(SECTION_REQUIRED | {"account_number"})}
    assert seen["bill-statements"] == 403
    sections = api.rows("bill-sections", tok, "bill_sections")
    # The statements are not visible: the sections name none (WG3 §10.6.1).
    assert {s["cds_billstatement_id"] for s in sections} == {None}
    assert all(s["related_servicecontracts"] for s in sections)


def test_cds_service_bills_with_statements_and_line_items(sample, api):
    every = {"include_bill_statements": True, "include_bill_section_line_items": True}
    tok = token("cds_service_bills_1", every, ["acc-sample-r1"])
    sections = api.rows("bill-sections", tok, "bill_sections")
    assert {frozenset(s) for s in sections} == {
        frozenset(SECTION_REQUIRED | {"account_number", "line_items"})
    }
    assert None not in {s["cds_billstatement_id"] for s in sections}


def test_cds_usage_defaults_show_segments_whose_references_name_nothing_hidden(sample, api):
    tok = token("cds_usage_1", {}, ["acc-sample-r1"])
    seen = keys_by_endpoint(api, tok)
    assert seen["usage-segments"] == {frozenset(SEGMENT_KEYS)}
    segments = api.rows("usage-segments", tok, "usage_segments")
    assert segments
    for seg in segments:
        for name in SEGMENT_KEYS:
            if name.startswith("related_"):
                assert seg[name] == [], name


def test_cds_usage_with_meters_names_them(sample, api):
    tok = token("cds_usage_1", {"include_meter_devices": True}, ["acc-sample-r1"])
    segments = api.rows("usage-segments", tok, "usage_segments")
    assert {m for s in segments for m in s["related_meterdevices"]} <= {
        "md-sample-r1e",
        "md-sample-r1g",
    }
    assert any(s["related_meterdevices"] for s in segments)


def test_null_value_types_serve_segments_without_formats_or_values(sample, api):
    tok = token("cds_usage_1", {"include_usage_segment_value_types": None}, ["acc-sample-r1"])
    segments = api.rows("usage-segments", tok, "usage_segments")
    assert segments
    assert {(str(s["formats"]), str(s["values"])) for s in segments} == {("[]", "[]")}


def test_value_types_keep_only_the_listed_formats(sample, api):
    tok = token("cds_usage_1", {"include_usage_segment_value_types": ["cost"]}, ["acc-sample-r1"])
    for seg in api.rows("usage-segments", tok, "usage_segments"):
        assert {f["type"] for f in seg["formats"]} <= {"cost"}
        assert all(len(v) == len(seg["formats"]) for v in seg["values"]) or seg["values"] == []
