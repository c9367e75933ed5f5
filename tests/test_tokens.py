"""Tokens are bound to one grant; a grant that stops being active stops its tokens at once."""

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cdsapi.grants import lifecycle
from cdsapi.models import AccessToken, Grant
from tests.factories import (
    AccountFactory,
    AccountVersionFactory,
    ApplicationFactory,
    BillSectionFactory,
)

DETAILS = [{"type": "cds_current_accounts_details"}, {"type": "cds_bill_statements"}]


@pytest.fixture
def account(db):
    account = AccountFactory(cds_account_id="acc-a")
    AccountVersionFactory(account=account)
    return account


def request_token(client, application, grant_id, **extra):
    return client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": application.client_id,
            "client_secret": "s3cret-s3cret-s3cret",
            "authorization_details": json.dumps(
                [{"type": "cds_grant_admin", "grant_id": grant_id}]
            ),
            **extra,
        },
    )


def test_client_credentials_with_a_grant_id_returns_a_token_bound_to_it(
    account, make_grant, api
) -> None:
    application = ApplicationFactory()
    grant = make_grant(["acc-a"], DETAILS, client=application)
    response = request_token(api.client, application, grant.pk)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cds_grant_ids"] == [grant.pk]
    assert body["authorization_details"] == grant.authorization_details
    assert body["scope"] == "cds_current_accounts_details cds_bill_statements"
    assert AccessToken.objects.get().cds_grant == grant
    assert api.get("accounts", body["access_token"]).status_code == 200


def test_a_token_may_ask_for_fewer_scopes_than_its_grant(account, make_grant, api) -> None:
    application = ApplicationFactory()
    grant = make_grant(["acc-a"], DETAILS, client=application)
    body = request_token(api.client, application, grant.pk, scope="cds_bill_statements").json()
    assert body["scope"] == "cds_bill_statements"
    assert api.get("accounts", body["access_token"]).status_code == 403
    wider = request_token(api.client, application, grant.pk, scope="cds_usage")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    "details",
    ["not json", "[]", '[{"type": "cds_usage"}]', '[{"type": "cds_grant_admin"}]'],
)
def test_malformed_authorization_details_at_the_token_endpoint(account, api, details) -> None:
    application = ApplicationFactory()
    response = api.client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": application.client_id,
            "client_secret": "s3cret-s3cret-s3cret",
            "authorization_details": details,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"


def test_a_client_cannot_get_a_token_for_another_clients_grant(account, make_grant, api) -> None:
    grant = make_grant(["acc-a"], DETAILS)
    response = request_token(api.client, ApplicationFactory(), grant.pk)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"


def test_a_revoked_grant_gets_no_new_token(account, make_grant, api) -> None:
    application = ApplicationFactory()
    grant = make_grant(["acc-a"], DETAILS, client=application)
    lifecycle.revoke_grant(grant)
    assert request_token(api.client, application, grant.pk).status_code == 400


def test_a_revoked_grants_token_gets_401_on_the_next_call(account, make_grant, api) -> None:
    grant = make_grant(["acc-a"], DETAILS)
    token, _ = lifecycle.issue_token(grant)
    assert api.get("accounts", token).status_code == 200
    lifecycle.revoke_grant(grant)
    response = api.get("accounts", token)
    assert response.status_code == 401
    assert response.data_ == {
        "error": "invalid_token",
        "error_description": "the token's grant is revoked",
    }
    assert response["WWW-Authenticate"].startswith('Bearer realm="cdsapi", error="invalid_token"')


@pytest.mark.parametrize("status", [Grant.Status.SUSPENDED, Grant.Status.EXPIRED])
def test_a_suspended_or_expired_grant_stops_its_tokens(account, make_grant, api, status) -> None:
    grant = make_grant(["acc-a"], DETAILS)
    token, _ = lifecycle.issue_token(grant)
    Grant.objects.filter(pk=grant.pk).update(status=status)
    assert api.get("accounts", token).status_code == 401


def test_a_grant_past_its_expiry_stops_its_tokens(account, make_grant, api) -> None:
    grant = make_grant(["acc-a"], DETAILS, expires=timezone.now() + timedelta(hours=1))
    token, _ = lifecycle.issue_token(grant)
    Grant.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = api.get("accounts", token)
    assert response.status_code == 401
    assert "expired" in response.data_["error_description"]


@pytest.mark.parametrize(
    ("authorization", "description"),
    [
        (None, "no bearer token was sent"),
        ("Bearer nonsense", "invalid"),
        ("Basic dXNlcjpwdw==", "no bearer token"),
    ],
)
def test_missing_or_unknown_tokens_get_401_with_www_authenticate(
    db, api, authorization, description
) -> None:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = api.client.get("/cds-customerdata-api/v1/accounts", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert description in response.json()["error_description"]
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_an_expired_token_gets_401(account, make_grant, api) -> None:
    token, _ = lifecycle.issue_token(make_grant(["acc-a"], DETAILS))
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert api.get("accounts", token).status_code == 401


def test_tokens_are_stored_only_as_checksums(account, make_grant) -> None:
    token, _ = lifecycle.issue_token(make_grant(["acc-a"], DETAILS))
    stored = AccessToken.objects.get()
    assert token not in (stored.token, stored.token_checksum)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"after": "2025-13-01"}, "after: expected a date"),
        ({"colour": "red"}, "unknown"),
        ({"cds_billstatement_ids": " "}, "at least one value"),
    ],
)
def test_malformed_parameters_are_invalid_request(account, token_for, api, params, message):
    response = api.get("bill-statements", token_for(["acc-a"], DETAILS), **params)
    assert response.status_code == 400
    assert response.data_["error"] == "invalid_request"
    assert message in response.data_["error_description"]


def test_a_repeated_parameter_is_invalid_request(account, token_for, api) -> None:
    token = token_for(["acc-a"], DETAILS)
    response = api.client.get(
        "/cds-customerdata-api/v1/accounts?q=a&q=b", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400


def test_other_methods_and_unknown_paths_answer_json(account, token_for, api) -> None:
    token = token_for(["acc-a"], DETAILS)
    response = api.client.post(
        "/cds-customerdata-api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    missing = api.client.get("/cds-customerdata-api/v1/meters")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


@pytest.mark.parametrize("endpoint", ["accounts", "bill-statements", "bill-sections"])
def test_the_query_count_does_not_grow_with_the_page_size(
    account, token_for, api, endpoint
) -> None:
    for _ in range(12):
        BillSectionFactory(statement__account=account)
        AccountVersionFactory(account=AccountFactory(), cds_modified=timezone.now())
    token = token_for(["acc-a"], DETAILS)

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(endpoint, token, limit=limit).status_code == 200
        return len(queries)

    assert count(2) == count(100) <= 6


def test_an_unknown_client_costs_a_secret_check_like_a_wrong_secret(
    account, make_grant, api, monkeypatch
) -> None:
    checked = []
    monkeypatch.setattr(
        "oauth2_provider.oauth2_validators.check_password",
        lambda *a, **k: checked.append("check"),
    )
    monkeypatch.setattr("cdsapi.grants.oauth.make_password", lambda *a, **k: checked.append("hash"))
    application = ApplicationFactory()
    grant = make_grant(["acc-a"], DETAILS, client=application)
    for who in (application, ApplicationFactory.build(client_id="no-such-client")):
        checked.clear()
        response = request_token(api.client, who, grant.pk, client_secret="wrong")
        assert response.status_code == 401
        assert len(checked) == 1
        checked.clear()
        basic = base64.b64encode(f"{who.client_id}:wrong".encode()).decode()
        response = api.client.post(
            "/oauth/token",
            {"grant_type": "client_credentials", "authorization_details": "[]"},
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        assert response.status_code == 401
        assert len(checked) == 1


@pytest.mark.parametrize("value", ["valid", "bogus", ""])
def test_a_token_in_the_query_string_is_refused_whatever_it_is(
    account, token_for, api, value
) -> None:
    token = token_for(["acc-a"], DETAILS)
    sent = {"valid": token, "bogus": "not-a-token", "": ""}[value]
    for header in (token, None):
        response = api.get("accounts", header, access_token=sent)
        assert response.status_code == 400
        assert response.data_["error"] == "invalid_request"
        assert "Authorization header" in response.data_["error_description"]


def test_a_revoked_grant_cannot_be_made_active_again(account, make_grant, api) -> None:
    from django.core.exceptions import ValidationError

    grant = make_grant(["acc-a"], DETAILS)
    token, _ = lifecycle.issue_token(grant)
    lifecycle.revoke_grant(grant)
    grant.status = Grant.Status.ACTIVE
    with pytest.raises(ValidationError):
        grant.save()
    Grant.objects.filter(pk=grant.pk).update(status=Grant.Status.ACTIVE)  # behind our back
    assert api.get("accounts", token).status_code == 401
