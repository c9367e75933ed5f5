"""The scope registry: upstream Scope Descriptions as data, driving validation."""

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.test import override_settings

from cdsapi.grants import scopes
from cdsapi.grants.details import InvalidAuthorizationDetails, parse_duration, resolve

# WG1-02 §3.4: every key of a Scope Description is required; §3.8 for a field.
SCOPE_KEYS = {
    "id",
    "type",
    "name",
    "description",
    "documentation",
    "registration_requirements",
    "registration_optional",
    "response_types_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "coverages_supported",
    "grant_admin_scope",
    "authorization_details_types_supported",
    "authorization_details_fields_supported",
}
FIELD_KEYS = {"id", "name", "description", "documentation", "for_types", "format", "is_required"}
NOW = datetime(2026, 3, 15, 17, 30, 45, 123456, tzinfo=UTC)


def printed_registry(capsys) -> dict:
    call_command("cds_scopes")
    return json.loads(capsys.readouterr().out)


def test_cds_scopes_prints_every_scope_in_the_upstream_shape(capsys) -> None:
    printed = printed_registry(capsys)
    assert list(printed)[:3] == ["cds_current_accounts_details", "cds_bill_statements", "cds_usage"]
    assert {"cds_accounts_1", "cds_usage_1", "cds_query_accounts_1", "cds_grant_admin_1"} <= set(
        printed
    )
    for scope_id, scope in printed.items():
        assert set(scope) == SCOPE_KEYS
        assert scope["id"] == scope_id
        # The client-admin scope carries no authorization_details (WG1-02 §3.3.1).
        expected_types = [] if scope_id == "cds_client_admin" else [scope_id]
        assert scope["authorization_details_types_supported"] == expected_types
        for field in scope["authorization_details_fields_supported"]:
            assert set(field) >= FIELD_KEYS
            assert field["for_types"] == [scope_id]
            # Only the grant-admin request has fields a client must send (WG1-02 §3.3.2).
            assert field["is_required"] is (scope_id == "cds_grant_admin_1")
            assert ("default" in field) is not field["is_required"]


def test_seed_scopes_take_a_server_prefixed_type(capsys) -> None:
    printed = printed_registry(capsys)
    assert [
        printed[s]["type"] for s in ("cds_current_accounts_details", "cds_bill_statements")
    ] == [
        "cdsapi_current_accounts_details",
        "cdsapi_bill_statements",
    ]
    assert printed["cds_usage"]["type"] == "cdsapi_usage"
    assert printed["cds_usage_1"]["type"] == "cds_usage"


def test_field_defaults_and_choices_are_published(capsys, settings) -> None:
    settings.CDS_DEFAULT_AGGREGATION_TYPE = "daily_aggregates"
    fields = {
        f["id"]: f
        for scope in printed_registry(capsys).values()
        for f in scope["authorization_details_fields_supported"]
    }
    assert fields["aggregation_type"]["default"] == "daily_aggregates"
    assert [c["id"] for c in fields["flavor"]["choices"]] == [
        "full",
        "usage_only",
        "amount_due_only",
    ]
    assert fields["segment_start"]["format"] == "relative_or_absolute_datetime"
    assert fields["statement_date_end"]["format"] == "relative_or_absolute_date"
    assert fields["fields"]["format"] == "choice_list"
    assert fields["sync_date_end"]["default"] == "infinite"


EXTRA = (
    scopes.ScopeDescription(
        id="example_meter_reads",
        type="cdsapi_meter_reads",
        name="Meter reads",
        description="A scope added by an operator.",
        fields=(
            scopes.Field(
                "read_kind",
                "Kind",
                "Which reads.",
                "choice",
                ("example_meter_reads",),
                default="billing",
                choices=(scopes.Choice("billing", "Billing reads"),),
            ),
        ),
    ),
)


@override_settings(CDS_SCOPES="tests.test_scopes.EXTRA")
def test_the_registry_comes_from_the_setting_and_drives_validation() -> None:
    assert list(scopes.registry()) == ["example_meter_reads"]
    [entry] = resolve([{"type": "example_meter_reads"}], ["example_meter_reads"], now=NOW)
    assert entry == {"type": "example_meter_reads", "read_kind": "billing"}
    with pytest.raises(InvalidAuthorizationDetails, match="got 'daily'"):
        resolve(
            [{"type": "example_meter_reads", "read_kind": "daily"}],
            ["example_meter_reads"],
            now=NOW,
        )
    with pytest.raises(InvalidAuthorizationDetails, match="unknown scope 'cds_usage'"):
        resolve([{"type": "cds_usage"}], ["cds_usage"], now=NOW)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("P0S", {"seconds": 0}),
        ("PT0S", {"seconds": 0}),
        (
            "P1Y2M3DT4H5M6S",
            {"years": 1, "months": 2, "days": 3, "hours": 4, "minutes": 5, "seconds": 6},
        ),
        ("P2W", {"weeks": 2}),
        ("P0D", {"days": 0}),
    ],
)
def test_every_valid_duration_parses(text, parts) -> None:
    assert parse_duration(text) == parts


@pytest.mark.parametrize("text", ["P", "PT", "P1", "1D", "P1H", "PT1D", "P-1D", "P1.5D"])
def test_a_malformed_duration_does_not(text) -> None:
    assert parse_duration(text) is None


def test_relative_datetimes_are_exactly_now_plus_or_minus_the_duration() -> None:
    [usage] = resolve(
        [{"type": "cds_usage", "segment_start": "P0S", "segment_end": "PT1S"}],
        ["cds_usage"],
        now=NOW,
    )
    assert usage["segment_start"] == "2026-03-15T17:30:45.123456Z"
    assert usage["segment_end"] == "2026-03-15T17:30:46.123456Z"


def test_relative_dates_refuse_a_time_part() -> None:
    with pytest.raises(InvalidAuthorizationDetails, match="statement_date_start"):
        resolve(
            [{"type": "cds_bill_statements", "statement_date_start": "P0S"}],
            ["cds_bill_statements"],
            now=NOW,
        )
