"""``cds_client`` and ``cds_grant``: JSON out, one-line reasons and a non-zero exit on bad input."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cdsapi.models import AccessToken, Application, Grant
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory


def run(*args: str) -> dict | list:
    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def account(db):
    account = AccountFactory(cds_account_id="acc-a")
    AccountVersionFactory(account=account)
    return account


def test_cds_client_create_prints_credentials_once_and_stores_a_hash(db) -> None:
    created = run("cds_client", "create", "--name", "Solar Co", "--client-id", "solar")
    assert created["client_id"] == "solar"
    stored = Application.objects.get(client_id="solar")
    assert stored.client_secret != created["client_secret"]
    with pytest.raises(CommandError, match="already exists"):
        run("cds_client", "create", "--name", "Again", "--client-id", "solar")


def test_cds_grant_create_prints_absolute_details_and_a_working_token(account, api) -> None:
    ApplicationFactory(client_id="solar")
    created = run(
        "cds_grant",
        "create",
        "--client-id",
        "solar",
        "--accounts",
        "acc-a",
        "--authorization-details",
        '[{"type": "cds_bill_statements", "statement_date_start": "P1Y"}]',
        "--expires",
        "P90D",
        "--issue-token",
    )
    assert created["scope"] == "cds_bill_statements"
    assert created["authorization_details"][0]["statement_date_start"][:2] == "20"
    assert created["expires"] is not None
    assert created["expires_in"] > 0
    assert AccessToken.objects.get().cds_grant_id == created["grant_id"]
    assert api.get("bill-statements", created["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--client-id",
                "nobody",
                "--accounts",
                "acc-a",
                "--authorization-details",
                '[{"type": "cds_usage"}]',
            ],
            "no client with client_id 'nobody'",
        ),
        (
            [
                "--client-id",
                "solar",
                "--accounts",
                "acc-z",
                "--authorization-details",
                '[{"type": "cds_usage"}]',
            ],
            "unknown cds_account_id 'acc-z'",
        ),
        (
            [
                "--client-id",
                "solar",
                "--accounts",
                "acc-a",
                "--authorization-details",
                '[{"type": "cds_usage", "aggregation_type": "yearly"}]',
            ],
            "invalid_authorization_details: authorization_details[0].aggregation_type",
        ),
        (
            [
                "--client-id",
                "solar",
                "--accounts",
                "acc-a",
                "--authorization-details",
                '[{"type": "cds_usage"}]',
                "--expires",
                "tomorrow",
            ],
            "expires: expected",
        ),
        (
            [
                "--client-id",
                "solar",
                "--accounts",
                "acc-a",
                "--authorization-details",
                '[{"type": "cds_usage"}]',
                "--scope",
                "cds_usage cds_bill_statements",
            ],
            "'cds_bill_statements' has no entry",
        ),
    ],
)
def test_cds_grant_create_rejects_bad_input_and_creates_nothing(account, args, message) -> None:
    ApplicationFactory(client_id="solar")
    with pytest.raises(CommandError) as error:
        run("cds_grant", "create", *args)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not Grant.objects.exists()


def test_cds_grant_revoke_and_list(account, make_grant, api) -> None:
    from cdsapi.grants import lifecycle

    grant = make_grant(["acc-a"], [{"type": "cds_current_accounts_details"}])
    token, _ = lifecycle.issue_token(grant)
    assert run("cds_grant", "revoke", grant.pk)["status"] == "revoked"
    assert api.get("accounts", token).status_code == 401
    [listed] = run("cds_grant", "list")
    assert listed["grant_id"] == grant.pk
    with pytest.raises(CommandError, match="no grant 'grt_missing'"):
        run("cds_grant", "revoke", "grt_missing")


def test_listing_grants_of_an_unknown_client_is_an_error(db) -> None:
    with pytest.raises(CommandError, match="no client with client_id 'nosuch'"):
        run("cds_grant", "list", "--client-id", "nosuch")
