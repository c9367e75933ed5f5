"""Nothing a client, an operator or an import can send is a 500: a clear 4xx (or a one-line
CLI error), and nothing written."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from accounts.views import AccountsView
from bills.views import BillSectionsView, BillStatementsView
from cdsapi.grants import lifecycle
from cdsapi.models import AccessToken, Grant
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory
from usage.views import UsageSegmentsView

SECRET = "s3cret-s3cret-s3cret"
EVERYTHING = [
    {"type": "cds_current_accounts_details"},
    {"type": "cds_bill_statements"},
    {"type": "cds_usage"},
]
ENDPOINTS = {
    "accounts": AccountsView,
    "bill-statements": BillStatementsView,
    "bill-sections": BillSectionsView,
    "usage-segments": UsageSegmentsView,
}
HOSTILE = {
    "nul": "a\x00b",
    "megabyte": "x" * 1_000_000,
    "superscript-digit": "²",
    "arabic-digit": "\u0661",
    "before-year-1-in-utc": "0001-01-01T00:00:00+01:00",
    "after-year-9999-in-utc": "9999-12-31T23:59:59-01:00",
}
ALWAYS_REFUSED = {"nul", "megabyte"}


def params_of(view: type) -> list[str]:
    return [f.param for f in view.filters] + ["limit", "offset", *view.extra_params]


@pytest.fixture
def everything(db):
    account = AccountFactory(cds_account_id="acc-h")
    AccountVersionFactory(account=account)
    application = ApplicationFactory()
    grant = lifecycle.create_grant(application, ["acc-h"], EVERYTHING)
    return application, grant, lifecycle.issue_token(grant)[0]


def snapshot() -> dict[str, int]:
    return {"grants": Grant.objects.count(), "tokens": AccessToken.objects.count()}


@pytest.mark.parametrize(
    ("endpoint", "param"),
    [(endpoint, param) for endpoint, view in ENDPOINTS.items() for param in params_of(view)],
)
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_every_parameter_of_every_endpoint_refuses_hostile_values(
    everything, api, endpoint, param, kind
) -> None:
    before = snapshot()
    response = api.get(endpoint, everything[2], **{param: HOSTILE[kind]})
    assert response.status_code < 500, response.content[:300]
    assert (
        set(response.data_) >= {"error", "error_description"}
        or endpoint.replace("-", "_") in response.data_
    )
    if kind in ALWAYS_REFUSED or param in ("limit", "offset"):
        assert response.status_code == 400, response.content[:300]
    if "year" in kind and param in ("before", "after") and endpoint == "usage-segments":
        assert response.status_code == 400
        assert "out of range" in response.data_["error_description"]
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_repeated_parameter_is_refused_everywhere(everything, api, endpoint) -> None:
    token = everything[2]
    response = api.client.get(
        f"/cds-customerdata-api/v1/{endpoint}?limit=1&limit=2",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_head_is_answered_like_get_without_a_body(everything, api) -> None:
    token = everything[2]
    head = api.client.head(
        "/cds-customerdata-api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    get = api.client.get("/cds-customerdata-api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]


def test_bill_sections_without_a_bills_scope_name_the_missing_scope(db, api, token_for) -> None:
    AccountVersionFactory(account__cds_account_id="acc-n")
    token = token_for(["acc-n"], [{"type": "cds_usage"}])
    response = api.get("bill-sections", token)
    assert response.status_code == 403
    assert "cds_bill_statements" in response.data_["error_description"]
    assert "flavor" not in response.data_["error_description"]


# -- the token endpoint ------------------------------------------------------------------------


def token_request(client, application, grant_id, *, headers=None, **fields):
    body = {
        "grant_type": "client_credentials",
        "client_id": application.client_id,
        "client_secret": SECRET,
        "authorization_details": json.dumps([{"type": "cds_grant_admin", "grant_id": grant_id}]),
    }
    body.update(fields)
    return client.post(
        "/oauth/token", {k: v for k, v in body.items() if v is not None}, **(headers or {})
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"client_id": "client\x00"},
        {"client_secret": "s3cret\x00"},
        {"authorization_details": '[{"type": "cds_grant_admin", "grant_id": "grt_\\u0000"}]'},
        {"authorization_details": "[" * 3000 + "]" * 3000},
        {
            "authorization_details": '[{"type": "cds_grant_admin", "grant_id": "'
            + "x" * 100000
            + '"}]'
        },
        {"scope": "cds_usage\x00"},
    ],
)
def test_hostile_token_requests_are_refused_without_a_500(everything, api, fields) -> None:
    application, grant, _ = everything
    before = snapshot()
    response = token_request(api.client, application, grant.pk, **fields)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"] in ("invalid_request", "invalid_authorization_details")
    assert snapshot() == before


def test_nul_bytes_in_basic_credentials_are_refused(everything, api) -> None:
    application, grant, _ = everything
    credentials = base64.b64encode(f"{application.client_id}\x00:{SECRET}".encode()).decode()
    response = token_request(
        api.client,
        application,
        grant.pk,
        client_id=None,
        client_secret=None,
        headers={"HTTP_AUTHORIZATION": f"Basic {credentials}"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("name", ["scope", "authorization_details", "grant_type"])
def test_a_repeated_token_parameter_is_invalid_request(everything, api, name) -> None:
    application, grant, _ = everything
    body = {
        "grant_type": "client_credentials",
        "client_id": application.client_id,
        "client_secret": SECRET,
        "scope": "cds_usage",
        "authorization_details": json.dumps([{"type": "cds_grant_admin", "grant_id": grant.pk}]),
    }
    body[name] = [body[name], body[name]]
    response = api.client.post("/oauth/token", body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"{name}: given more than once",
    }


def test_an_empty_scope_is_an_absent_one(everything, api) -> None:
    application, grant, _ = everything
    response = token_request(api.client, application, grant.pk, scope="")
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == grant.scope


def test_a_narrower_token_echoes_only_the_entries_it_carries(everything, api) -> None:
    application, grant, _ = everything
    response = token_request(api.client, application, grant.pk, scope="cds_usage")
    body = response.json()
    assert body["scope"] == "cds_usage"
    assert [e["type"] for e in body["authorization_details"]] == ["cds_usage"]


def test_a_token_never_outlives_its_grant(db, api) -> None:
    AccountVersionFactory(account__cds_account_id="acc-e")
    application = ApplicationFactory()
    grant = lifecycle.create_grant(
        application, ["acc-e"], EVERYTHING, expires=timezone.now() + timedelta(seconds=45)
    )
    body = token_request(api.client, application, grant.pk).json()
    assert 40 <= body["expires_in"] <= 45
    assert AccessToken.objects.get().expires <= grant.expires


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke_token"])
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_at_the_oauth_endpoints_are_json_405(db, api, path, method) -> None:
    response = getattr(api.client, method)(path)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"


# -- grants from the command line and the admin ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expires": "9999-12-31T23:59:59-01:00"}, "expires: out of range once converted"),
        ({"expires": "P99999Y"}, "expires: 'P99999Y' is out of range"),
        ({"expires": "9000-01-01T00:00:00Z"}, "expires: out of range"),
        (
            {
                "authorization_details": json.dumps(
                    [{"type": "cds_usage", "segment_start": "0999-01-01T00:00:00Z"}]
                )
            },
            "segment_start: 0999-01-01T00:00:00+00:00 is out of range",
        ),
        (
            {
                "authorization_details": json.dumps(
                    [{"type": "cds_bill_statements", "statement_date_end": "P9999Y"}]
                )
            },
            "statement_date_end: 'P9999Y' is out of range",
        ),
        ({"client_id": "client\x00"}, "--client-id: control characters"),
        ({"accounts": "acc-h\x00"}, "--accounts: control characters"),
    ],
)
def test_the_cli_refuses_hostile_grants_in_one_line(everything, options, message) -> None:
    application = everything[0]
    arguments = {
        "client_id": application.client_id,
        "accounts": "acc-h",
        "authorization_details": '[{"type": "cds_usage"}]',
        **options,
    }
    before = snapshot()
    argv = ["create"]
    for name, value in arguments.items():
        argv += [f"--{name.replace('_', '-')}", value]
    with pytest.raises(CommandError) as error:
        call_command("cds_grant", *argv)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert snapshot() == before


def test_the_cli_refuses_a_nul_grant_id(everything) -> None:
    with pytest.raises(CommandError, match="control characters"):
        call_command("cds_grant", "revoke", "grt_\x00")


@pytest.fixture
def admin_client(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("authorization_details", "[" * 3000 + "]" * 3000),
        (
            "authorization_details",
            '[{"type": "cds_usage", "segment_end": "9999-12-31T23:59:59-01:00"}]',
        ),
        ("authorization_details", '[{"type": "cds_usage", "segment_start": "P99999Y"}]'),
        ("scope", "cds_usage\x00"),
        ("expires", "9999-12-31T23:59:59Z"),
        ("expires", "P99999Y"),
        ("expires", "tomorrow"),
    ],
)
def test_the_admin_grant_form_refuses_hostile_values(
    everything, admin_client, field, value
) -> None:
    application = everything[0]
    account = AccountFactory._meta.model.objects.get(cds_account_id="acc-h")
    form = {
        "client": application.pk,
        "accounts": [account.pk],
        "scope": "",
        "authorization_details": '[{"type": "cds_usage"}]',
        "status": "active",
        "expires": "",
        field: value,
    }
    before = snapshot()
    page = admin_client.post(reverse("admin:cdsapi_grant_add"), form)
    assert page.status_code == 200
    assert b"errorlist" in page.content
    assert snapshot() == before


# -- an outage -------------------------------------------------------------------------------


def test_an_outage_is_a_503_with_retry_after(everything, api, caplog) -> None:
    application, grant, token = everything

    def unreachable(*args):
        raise OperationalError("could not connect to server: Connection refused (10.0.0.9)")

    with connection.execute_wrapper(unreachable):
        caplog.clear()
        response = api.get("accounts", token)
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.data_["error"] == "temporarily_unavailable"
        assert len([r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]) == 1
        assert not any(r.exc_info for r in caplog.records)
        minted = token_request(api.client, application, grant.pk)
        assert minted.status_code == 503
        assert minted.json()["error"] == "temporarily_unavailable"
        ready = api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable"}
    assert api.get("accounts", token).status_code == 200  # it recovers by itself


@pytest.mark.parametrize(
    "argv",
    [
        ["cds_client", "create", "--name", "evil\x00"],
        ["cds_client", "create", "--name", "ok", "--client-id", "id\x00"],
        ["cds_import", "file\x00.json"],
        ["cds_grant", "list", "--client-id", "c\x00"],
    ],
)
def test_every_command_refuses_nul_bytes_in_one_line(db, argv) -> None:
    before = snapshot()
    with pytest.raises(CommandError, match="control characters") as error:
        call_command(*argv)
    assert "\n" not in str(error.value)
    assert snapshot() == before


@pytest.mark.parametrize("password", ["pw", "wrong"])
def test_a_grant_type_the_server_does_not_offer_never_checks_a_password(
    everything, api, password
) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("admin1", password="pw")
    application = everything[0]
    response = api.client.post(
        "/oauth/token",
        {
            "grant_type": "password",
            "username": "admin1",
            "password": password,
            "client_id": application.client_id,
            "client_secret": SECRET,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_the_client_authenticates_one_way_only(everything, api) -> None:
    application, grant, _ = everything
    other = ApplicationFactory()
    credentials = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = token_request(
        api.client,
        other,
        grant.pk,
        headers={"HTTP_AUTHORIZATION": f"Basic {credentials}"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_scope_named_twice_counts_once(everything, api) -> None:
    application, grant, _ = everything
    response = token_request(api.client, application, grant.pk, scope="cds_usage cds_usage")
    assert response.json()["scope"] == "cds_usage"


@pytest.mark.parametrize(
    "start", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "2025-01-01T00:00:00"]
)
def test_a_forged_cursor_out_of_range_is_refused(everything, api, token_for, start) -> None:
    token = token_for(["acc-h"], [{"type": "cds_usage", "aggregation_type": "daily_aggregates"}])
    cursor = base64.urlsafe_b64encode(json.dumps(["acc-h", start, 0]).encode()).decode()
    response = api.get("usage-segments", token, cursor=cursor)
    assert response.status_code == 400
    assert response.data_["error_description"].startswith("cursor:")


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/receipts/%00", None),
        ("get", "/oauth/default-redirect/%00", None),
        ("post", "/oauth/par", {"client_id": "a\x00b", "response_type": "code"}),
        ("options", "/cds-customerdata-api/v1/docs", None),
        ("options", "/cds-customerdata-api/v1/schema", None),
    ],
)
def test_pages_outside_the_api_answer_bad_input_with_a_4xx(db, client, method, path, data):
    kwargs = {"data": data} if data is not None else {}
    response = getattr(client, method)(path, **kwargs)
    assert 400 <= response.status_code < 500, response.content[:300]


def test_a_nul_in_a_grant_id_is_a_4xx_for_a_valid_admin_token(everything, api) -> None:
    app = ApplicationFactory()
    lifecycle.create_grant(app, ["acc-h"], [{"type": "cds_accounts_1"}])
    token = api.client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "cds_client_admin"},
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{app.client_id}:s3cret-s3cret-s3cret".encode()).decode(),
    ).json()["access_token"]
    response = api.client.get("/cds-api/v1/grants/grt%00x", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert 400 <= response.status_code < 500
