"""One validator for authorization_details: absolute values, defaults, and precise errors."""

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from cdsapi.grants.details import InvalidAuthorizationDetails, resolve

# 2026-03-15 10:30 in Los Angeles (PDT, UTC-7).
NOW = datetime(2026, 3, 15, 17, 30, 45, tzinfo=UTC)
ALL = ["cds_current_accounts_details", "cds_bill_statements", "cds_usage"]


def test_defaults_are_filled_in_and_stored_explicitly() -> None:
    entries = [
        {"type": "cds_current_accounts_details"},
        {"type": "cds_bill_statements"},
        {"type": "cds_usage"},
    ]
    assert resolve(entries, ALL, now=NOW) == [
        {
            "type": "cds_current_accounts_details",
            "sync_date_end": "infinite",
            "fields": [
                "customer_number",
                "account_number",
                "account_entity",
                "account_name",
                "account_address",
                "account_types",
                "account_status",
                "account_contacts",
                "account_programs",
            ],
        },
        {
            "type": "cds_bill_statements",
            "statement_date_start": "infinite",
            "statement_date_end": "infinite",
            "flavor": "full",
        },
        {
            "type": "cds_usage",
            "segment_start": "infinite",
            "segment_end": "infinite",
            "aggregation_type": "intervals",
        },
    ]


def test_relative_dates_resolve_once_in_the_utility_timezone() -> None:
    [bills] = resolve(
        [
            {
                "type": "cds_bill_statements",
                "statement_date_start": "P13M",
                "statement_date_end": "P0D",
            }
        ],
        ["cds_bill_statements"],
        now=NOW,
    )
    assert (bills["statement_date_start"], bills["statement_date_end"]) == (
        "2025-02-15",
        "2026-03-15",
    )


@override_settings(CDS_TIMEZONE="Asia/Tokyo")
def test_the_local_date_depends_on_cds_timezone() -> None:
    [bills] = resolve(
        [{"type": "cds_bill_statements", "statement_date_end": "P0D"}],
        ["cds_bill_statements"],
        now=NOW,
    )
    assert bills["statement_date_end"] == "2026-03-16"


def test_relative_datetimes_look_back_for_starts_and_forward_for_ends() -> None:
    [usage] = resolve(
        [{"type": "cds_usage", "segment_start": "P1Y", "segment_end": "PT12H"}],
        ["cds_usage"],
        now=NOW,
    )
    assert usage["segment_start"] == "2025-03-15T17:30:45Z"
    assert usage["segment_end"] == "2026-03-16T05:30:45Z"
    [accounts] = resolve(
        [{"type": "cds_current_accounts_details", "sync_date_end": "P0D"}],
        ["cds_current_accounts_details"],
        now=NOW,
    )
    assert accounts["sync_date_end"] == "2026-03-15T17:30:45Z"


def test_absolute_datetimes_are_normalised_to_utc() -> None:
    [accounts] = resolve(
        [{"type": "cds_current_accounts_details", "sync_date_end": "2026-01-01T00:00:00-08:00"}],
        ["cds_current_accounts_details"],
        now=NOW,
    )
    assert accounts["sync_date_end"] == "2026-01-01T08:00:00Z"


@pytest.mark.parametrize(
    ("details", "scopes", "path", "message"),
    [
        ("[", ALL, "authorization_details", "is not valid JSON"),
        ({"type": "cds_usage"}, ALL, "authorization_details", "expected a JSON array of objects"),
        ([], ALL, "authorization_details", "must not be empty"),
        ([{"type": "cds_meters"}], ALL, "authorization_details[0].type", "expected one of"),
        (
            [{"type": "cds_bill_statements", "flavor": "everything"}],
            ALL,
            "authorization_details[0].flavor",
            "got 'everything'",
        ),
        (
            [{"type": "cds_bill_statements", "colour": "red"}],
            ALL,
            "authorization_details[0].colour",
            "unknown field",
        ),
        (
            [{"type": "cds_current_accounts_details", "fields": ["account_pin"]}],
            ALL,
            "authorization_details[0].fields[0]",
            "got 'account_pin'",
        ),
        (
            [{"type": "cds_current_accounts_details", "fields": ["account_name", "account_name"]}],
            ALL,
            "authorization_details[0].fields",
            "twice",
        ),
        (
            [{"type": "cds_bill_statements", "statement_date_start": "2026-02-30"}],
            ALL,
            "authorization_details[0].statement_date_start",
            "not a calendar date",
        ),
        (
            [{"type": "cds_bill_statements", "statement_date_start": "PT1H"}],
            ALL,
            "authorization_details[0].statement_date_start",
            "expected a date YYYY-MM-DD",
        ),
        (
            [
                {
                    "type": "cds_bill_statements",
                    "statement_date_start": "2026-01-02",
                    "statement_date_end": "2026-01-01",
                }
            ],
            ALL,
            "authorization_details[0]",
            "starts (2026-01-02) after it ends",
        ),
        (
            [
                {
                    "type": "cds_usage",
                    "segment_start": "2026-01-01T00:00:00Z",
                    "segment_end": "2026-01-01T00:00:00Z",
                }
            ],
            ALL,
            "authorization_details[0]",
            "after it ends",
        ),
        (
            [{"type": "cds_usage", "segment_end": "2026-01-01"}],
            ALL,
            "authorization_details[0].segment_end",
            "expected an RFC 3339 datetime",
        ),
        (
            [{"type": "cds_usage", "aggregation_type": "weekly_aggregates"}],
            ALL,
            "authorization_details[0].aggregation_type",
            "got 'weekly_aggregates'",
        ),
        (
            [{"type": "cds_usage", "segment_start": 5}],
            ALL,
            "authorization_details[0].segment_start",
            "expected a string",
        ),
        (
            [{"type": "cds_usage"}],
            ["cds_bill_statements"],
            "authorization_details[0].type",
            "needs the scope 'cds_usage'",
        ),
        (
            [{"type": "cds_usage"}],
            ["cds_usage", "cds_bill_statements"],
            "authorization_details",
            "'cds_bill_statements' has no entry",
        ),
        ([{"type": "cds_usage"}], ["cds_usage", "openid"], "scope", "unknown scope 'openid'"),
    ],
)
def test_every_error_names_the_entry_and_field(details, scopes, path, message) -> None:
    with pytest.raises(InvalidAuthorizationDetails) as error:
        resolve(details, scopes, now=NOW)
    assert error.value.path == path
    assert message in error.value.message


@override_settings(CDS_DEFAULT_ACCOUNT_FIELDS=["account_number"])
def test_the_default_account_fields_come_from_the_setting() -> None:
    [entry] = resolve(
        [{"type": "cds_current_accounts_details"}], ["cds_current_accounts_details"], now=NOW
    )
    assert entry["fields"] == ["account_number"]


@override_settings(CDS_DEFAULT_ACCOUNT_FIELDS=["account_pin"])
def test_an_unknown_default_account_field_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="account_pin"):
        resolve(
            [{"type": "cds_current_accounts_details"}], ["cds_current_accounts_details"], now=NOW
        )


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ('[{"type": "cds_accounts_1", "type": "cds_usage_1"}]', "the key 'type' is given twice"),
        ('[{"type": "cds_accounts_1", "sync_until": "P\\uff11D"}]', "sync_until"),
        ('[{"type": "cds_accounts_1", "account_numbers": ["\\ud800"]}]', "unpaired surrogates"),
        (
            '[{"type": "cds_accounts_1", "authorization_form_selection_type": "x"}]',
            "expected 'account_selection', got 'x'",
        ),
    ],
)
def test_upstream_details_refuse_what_cannot_be_read_one_way(details, message) -> None:
    with pytest.raises(InvalidAuthorizationDetails) as refused:
        resolve(details, ["cds_accounts_1"])
    assert message in str(refused.value)
