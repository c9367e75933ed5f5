"""Every upstream scope, with its defaults and with every include_* it offers turned on:
which endpoints answer and which keys their objects carry, written here from WG3 §6.1-6.2
(implied and offered fields) and §10.x.1 (REQUIRED and OPTIONAL keys)."""

import json

import pytest
from django.core.management import call_command

from cdsapi.grants import lifecycle
from tests.factories import ApplicationFactory
from tests.test_upstream_vocabulary import (
    ACCOUNT_DETAILS,
    ACCOUNT_NUMBERS,
    ACCOUNT_REQUIRED,
    CONTRACT_DETAILS,
    CONTRACT_NUMBERS,
    CONTRACT_REQUIRED,
    ENDPOINTS,
    METER_REQUIRED,
    POINT_REQUIRED,
    RATE_PLANS,
    SECTION_REQUIRED,
    SEGMENT_KEYS,
    STATEMENT_CHARGES,
    STATEMENT_REQUIRED,
    keys_by_endpoint,
)

NUMBER = {"account_number"}
ACCOUNTS_ALL = ACCOUNT_REQUIRED | ACCOUNT_NUMBERS | ACCOUNT_DETAILS | {"account_programs"}
CONTRACTS_ALL = (CONTRACT_REQUIRED | NUMBER | CONTRACT_NUMBERS | RATE_PLANS | CONTRACT_DETAILS) | {
    "service_programs"
}
POINTS_ALL = POINT_REQUIRED | {"premises", "servicepoint_address", "latitude", "longitude"}
METERS_ALL = METER_REQUIRED | {"meter_number", "meter_apps"}
STATEMENTS_ALL = STATEMENT_REQUIRED | NUMBER | STATEMENT_CHARGES
STATEMENTS_ALL |= {"file_uri", "file_mimetype", "account_programs"}

# scope -> (extra entry fields, {endpoint: keys} with defaults, {endpoint: keys} all on).
TABLE = {
    "cds_accounts_1": (
        {},
        {"accounts": ACCOUNT_REQUIRED},
        {"accounts": ACCOUNTS_ALL},
    ),
    "cds_account_programs_1": (
        {"account_programs": ["SOLAR"]},
        {"accounts": ACCOUNT_REQUIRED | {"account_programs"}},
        {"accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS | {"account_programs"}},
    ),
    "cds_service_contracts_1": (
        {},
        {"accounts": ACCOUNT_REQUIRED, "service-contracts": CONTRACT_REQUIRED},
        {
            "accounts": ACCOUNTS_ALL,
            "service-contracts": CONTRACTS_ALL,
            "meter-devices": METERS_ALL,
            "service-points": POINT_REQUIRED,
        },
    ),
    "cds_service_programs_1": (
        {"service_programs": ["SOLAR"]},
        {"service-contracts": CONTRACT_REQUIRED | {"service_programs"}},
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "service-contracts": CONTRACT_REQUIRED
            | NUMBER
            | CONTRACT_NUMBERS
            | RATE_PLANS
            | {"service_programs"},
            "meter-devices": METER_REQUIRED | {"meter_number"},
            "service-points": POINT_REQUIRED,
        },
    ),
    "cds_rate_plan_1": (
        {},
        {"service-contracts": CONTRACT_REQUIRED | RATE_PLANS},
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "service-contracts": CONTRACT_REQUIRED | NUMBER | CONTRACT_NUMBERS | RATE_PLANS,
            "meter-devices": METER_REQUIRED | {"meter_number"},
            "service-points": POINT_REQUIRED,
        },
    ),
    "cds_meters_1": (
        {},
        {"meter-devices": METER_REQUIRED},
        {
            "accounts": ACCOUNTS_ALL,
            "service-contracts": CONTRACTS_ALL,
            "service-points": POINTS_ALL,
            "meter-devices": METERS_ALL,
        },
    ),
    "cds_bill_statements_1": (
        {},
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "bill-statements": STATEMENT_REQUIRED | NUMBER,
        },
        {"accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS, "bill-statements": STATEMENTS_ALL},
    ),
    "cds_service_bills_1": (
        {},
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "service-contracts": CONTRACT_REQUIRED | NUMBER | CONTRACT_NUMBERS,
            "bill-sections": SECTION_REQUIRED | NUMBER,
        },
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "service-contracts": CONTRACT_REQUIRED | NUMBER | CONTRACT_NUMBERS,
            "service-points": POINT_REQUIRED,
            "meter-devices": METER_REQUIRED | {"meter_number"},
            "bill-statements": STATEMENTS_ALL,
            "bill-sections": SECTION_REQUIRED | NUMBER | {"line_items"},
        },
    ),
    "cds_usage_1": (
        {},
        {"usage-segments": SEGMENT_KEYS},
        {
            "accounts": ACCOUNT_REQUIRED | ACCOUNT_NUMBERS,
            "service-contracts": CONTRACT_REQUIRED | NUMBER | CONTRACT_NUMBERS,
            "service-points": POINTS_ALL,
            "meter-devices": METER_REQUIRED | {"meter_number"},
            "usage-segments": SEGMENT_KEYS,
        },
    ),
    "cds_query_accounts_1": (
        {},
        {"accounts": ACCOUNT_REQUIRED},
        {"accounts": ACCOUNTS_ALL},
    ),
    "cds_query_service_contracts_1": (
        {},
        {"accounts": ACCOUNT_REQUIRED, "service-contracts": CONTRACT_REQUIRED},
        {"accounts": ACCOUNTS_ALL, "service-contracts": CONTRACTS_ALL},
    ),
    "cds_query_service_points_1": (
        {},
        {"service-points": POINT_REQUIRED},
        {"service-points": POINTS_ALL},
    ),
    "cds_query_meter_devices_1": (
        {},
        {"meter-devices": METER_REQUIRED},
        {"meter-devices": METERS_ALL},
    ),
    "cds_query_bill_statements_1": (
        {},
        {"bill-statements": STATEMENT_REQUIRED},
        {"bill-statements": STATEMENTS_ALL},
    ),
    "cds_query_bill_sections_1": (
        {},
        {"bill-sections": SECTION_REQUIRED},
        {"bill-sections": SECTION_REQUIRED | NUMBER | {"line_items"}},
    ),
    "cds_query_usage_1": (
        {},
        {"usage-segments": SEGMENT_KEYS},
        {"usage-segments": SEGMENT_KEYS},
    ),
}


@pytest.fixture
def sample(db, sample_path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")


def offered_includes(scope: str) -> dict[str, bool]:
    """Every include_* the scope advertises, turned on (from `cds_scopes`, as a client would
    read the metadata)."""
    from cdsapi.grants.scopes import as_json

    fields = as_json()[scope]["authorization_details_fields_supported"]
    return {
        f["id"]: True for f in fields if f["id"].startswith("include_") and f["format"] == "boolean"
    }


def token_for_scope(api, scope: str, entry: dict) -> str:
    if scope.startswith("cds_query_"):
        client = ApplicationFactory()
        call_command(
            "cds_client",
            "direct-access",
            "--client-id",
            client.client_id,
            "--scopes",
            scope,
            "--accounts",
            "acc-sample-r1",
        )
        response = api.client.post(
            "/oauth/token",
            {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": "s3cret-s3cret-s3cret",
                "scope": scope,
                "authorization_details": json.dumps([{"type": scope, **entry}]),
            },
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]
    grant = lifecycle.create_grant(
        ApplicationFactory(), ["acc-sample-r1"], [{"type": scope, **entry}]
    )
    return lifecycle.issue_token(grant)[0]


def expected(table: dict[str, set]) -> dict:
    return {e: ({frozenset(table[e])} if e in table else 403) for e in ENDPOINTS}


@pytest.mark.parametrize("scope", sorted(TABLE))
def test_each_scope_with_its_defaults(sample, api, scope):
    extra, defaults, _ = TABLE[scope]
    assert keys_by_endpoint(api, token_for_scope(api, scope, extra)) == expected(defaults)


@pytest.mark.parametrize("scope", sorted(TABLE))
def test_each_scope_with_every_include_on(sample, api, scope):
    extra, _, every = TABLE[scope]
    tok = token_for_scope(api, scope, {**extra, **offered_includes(scope)})
    assert keys_by_endpoint(api, tok) == expected(every)
