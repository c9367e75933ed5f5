"""Customers consent (CDS-WG3-01 §9, RFC 6749 §4.1, RFC 7636, RFC 9126, RFC 9396): the
authorization code flow with PAR, the consent page and its selection, receipts, the
customer's own page, and refresh tokens bound to their grant."""

import base64
import hashlib
import itertools
import json
import shlex
from datetime import timedelta
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from bills.models import BillStatement
from cdsapi.grants import lifecycle
from cdsapi.models import Application, Grant
from consent.models import PushedRequest, Receipt
from tests.factories import (
    AccountFactory,
    AccountVersionFactory,
    ApplicationFactory,
    BillSectionFactory,
)

REDIRECT = "https://recipient.example/callback"
VERIFIER = "a-long-enough-code-verifier-for-pkce-0123456789abcdef"
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def sample(db, sample_path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")
    for user in get_user_model().objects.all():
        user.set_password(PASSWORD)
        user.save()


@pytest.fixture
def recipient(db) -> Any:
    return ApplicationFactory(
        name="Sunny Solar",
        client_type="public",
        client_secret="",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT,
        client_uri="https://sunny.example",
    )


def request_params(client: Any, **changes: Any) -> dict[str, str]:
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "cds_accounts_1",
        "state": "xyz-state",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def authorize_url(params: dict[str, str]) -> str:
    return "/oauth/authorize?" + urlencode(params)


def logged_in(username: str) -> Client:
    browser = Client()
    assert browser.login(username=username, password=PASSWORD)
    return browser


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content[:500]
    parts = urlsplit(response["Location"])
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def approve(browser: Client, url: str, resources: list[str], **extra: Any) -> Any:
    return browser.post(url, {"decision": "approve", "resource": resources, **extra})


def exchange(code: str, client: Any, verifier: str = VERIFIER, redirect: str = REDIRECT) -> Any:
    return Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client.client_id,
            "code_verifier": verifier,
        },
    )


def test_the_whole_code_flow_with_par(sample, recipient, api):
    details = [{"type": "cds_accounts_1", "include_account_numbers": True}]
    pushed = Client().post(
        "/oauth/par", request_params(recipient, authorization_details=json.dumps(details))
    )
    assert pushed.status_code == 201, pushed.content
    request_uri = pushed.json()["request_uri"]
    url = authorize_url({"client_id": recipient.client_id, "request_uri": request_uri})
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login?")
    browser = logged_in("alice")
    page = browser.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Sunny Solar" in text and "1001-4410-7" in text
    assert "1001-5523-2" not in text  # bob's account is never offered
    query = redirect_query(approve(browser, url, ["acc-sample-r1"]))
    assert query["state"] == "xyz-state"
    token = exchange(query["code"], recipient)
    assert token.status_code == 200, token.content
    body = token.json()
    assert body["scope"] == "cds_accounts_1"
    assert body["refresh_token"]
    [grant_id] = body["cds_grant_ids"]
    assert body["authorization_details"] == Grant.objects.get(pk=grant_id).authorization_details
    assert body["authorization_details"][0]["include_account_numbers"] is True
    accounts = api.rows("accounts", body["access_token"], "accounts")
    assert [a["cds_account_id"] for a in accounts] == ["acc-sample-r1"]
    assert not PushedRequest.objects.exists()  # used once


def consent(sample_user: str, recipient: Any, **changes: Any) -> tuple[Client, str, dict]:
    """A logged-in customer on the consent page of a plain (non-PAR) request."""
    browser = logged_in(sample_user)
    url = authorize_url(request_params(recipient, **changes))
    return browser, url, {}


def approved_tokens(recipient: Any, resources: list[str], user: str = "alice", **changes) -> dict:
    browser, url, _ = consent(user, recipient, **changes)
    query = redirect_query(approve(browser, url, resources))
    response = exchange(query["code"], recipient)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_plain_request_without_par_keeps_working(sample, recipient, api):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    assert api.rows("accounts", body["access_token"], "accounts")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "nobody"}, "client_id"),
        ({"redirect_uri": "https://evil.example/steal"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"client_id": None}, "client_id"),
    ],
)
def test_an_untrusted_client_or_redirect_gets_an_error_page_never_a_redirect(
    sample, recipient, changes, reason
):
    response = Client().get(authorize_url(request_params(recipient, **changes)))
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert "Location" not in response


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"scope": "cds_usage_1 nonsense"}, "invalid_scope"),
        ({"scope": "cds_query_accounts_1"}, "invalid_scope"),
        ({"scope": "cds_usage"}, "invalid_scope"),
        (
            {"authorization_details": '[{"type":"cds_accounts_1","include_accountz":true}]'},
            "invalid_authorization_details",
        ),
        ({"authorization_details": "[{"}, "invalid_authorization_details"),
        ({"cds_grant_id": "grt_nonexistent"}, "cds_grant_id_invalid_value"),
        ({"prompt": "none"}, "consent_required"),
        ({"prompt": "sometimes"}, "invalid_request"),
    ],
)
def test_a_bad_request_redirects_with_its_error_and_state_before_login(
    sample, recipient, changes, error
):
    query = redirect_query(Client().get(authorize_url(request_params(recipient, **changes))))
    assert query["error"] == error
    assert query["state"] == "xyz-state"
    assert query["error_description"]


def test_a_wrong_or_missing_pkce_verifier_gets_no_token(sample, recipient):
    for verifier in ("x" * 50, ""):
        browser, url, _ = consent("alice", recipient)
        query = redirect_query(approve(browser, url, ["acc-sample-r1"]))
        response = exchange(query["code"], recipient, verifier=verifier)
        assert response.status_code == 400
        assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_every_authorization_response_names_its_issuer(sample, recipient, settings):
    """RFC 9207: a client that talks to several servers can tell which one answered."""
    settings.CDS_ISSUER = "https://data.example-utility.com"
    browser, url, _ = consent("alice", recipient)
    approved = redirect_query(approve(browser, url, ["acc-sample-r1"]))
    assert approved["code"] and approved["iss"] == "https://data.example-utility.com"
    declined = redirect_query(browser.post(url, {"decision": "decline"}))
    assert declined["error"] == "access_denied"
    assert declined["iss"] == "https://data.example-utility.com"
    refused = redirect_query(Client().get(authorize_url(request_params(recipient, scope="x"))))
    assert refused["error"] == "invalid_scope"
    assert refused["iss"] == "https://data.example-utility.com"
    metadata = Client().get("/.well-known/oauth-authorization-server").json()
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_a_code_is_used_once_and_only_with_its_redirect_uri(sample, recipient):
    browser, url, _ = consent("alice", recipient)
    code = redirect_query(approve(browser, url, ["acc-sample-r1"]))["code"]
    assert exchange(code, recipient, redirect="https://recipient.example/other").status_code == 400
    assert exchange(code, recipient).status_code == 200
    assert exchange(code, recipient).status_code == 400


def test_a_replayed_code_revokes_the_tokens_it_gave(sample, recipient, api):
    browser, url, _ = consent("alice", recipient)
    code = redirect_query(approve(browser, url, ["acc-sample-r1"]))["code"]
    first = exchange(code, recipient).json()
    assert api.get("accounts", first["access_token"]).status_code == 200
    assert exchange(code, recipient).status_code == 400
    assert api.get("accounts", first["access_token"]).status_code == 401
    refresh = {"grant_type": "refresh_token", "client_id": recipient.client_id}
    again = Client().post("/oauth/token", {**refresh, "refresh_token": first["refresh_token"]})
    assert again.status_code == 400


def test_a_customer_cannot_share_someone_elses_account(sample, recipient):
    browser, url, _ = consent("alice", recipient)
    response = approve(browser, url, ["acc-sample-r1", "acc-sample-r2"])
    assert response.status_code == 400
    assert "not yours" in response.content.decode()
    assert not Grant.objects.filter(client=recipient).exists()


def test_declining_redirects_with_access_denied(sample, recipient, settings):
    browser, url, _ = consent("alice", recipient)
    query = redirect_query(browser.post(url, {"decision": "decline"}))
    assert query == {
        "error": "access_denied",
        "error_description": "the customer declined",
        "state": "xyz-state",
        "iss": settings.CDS_ISSUER,
    }
    assert not Grant.objects.exists()


def test_details_sent_are_resolved_absolute_and_echoed_with_defaults(sample, recipient):
    details = [{"type": "cds_usage_1", "segment_start": "P30D", "account_numbers": ["1001-4410-7"]}]
    body = approved_tokens(
        recipient, ["acc-sample-r1"], scope="cds_usage_1", authorization_details=json.dumps(details)
    )
    [entry] = body["authorization_details"]
    assert entry["segment_start"].endswith("Z") or "+" in entry["segment_start"]
    assert "account_numbers" not in entry  # preselections are not kept (WG3 §6.1)
    assert entry["sync_until"] == "infinite"


def test_a_refreshed_token_stays_bound_to_its_grant_and_never_widens(sample, recipient, api):
    body = approved_tokens(recipient, ["acc-sample-r1"], scope="cds_accounts_1 cds_usage_1")
    grant = Grant.objects.get(pk=body["cds_grant_ids"][0])
    lifecycle.reduce_scope(grant, "cds_accounts_1")
    refresh = {"grant_type": "refresh_token", "client_id": recipient.client_id}
    wider = Client().post(
        "/oauth/token", {**refresh, "refresh_token": body["refresh_token"], "scope": "cds_usage_1"}
    )
    assert wider.status_code == 400
    again = Client().post("/oauth/token", {**refresh, "refresh_token": body["refresh_token"]})
    assert again.status_code == 200, again.content
    renewed = again.json()
    assert renewed["cds_grant_ids"] == [grant.pk]
    assert renewed["scope"] == "cds_accounts_1"
    lifecycle.revoke_grant(grant)
    dead = Client().post("/oauth/token", {**refresh, "refresh_token": renewed["refresh_token"]})
    assert dead.status_code == 400
    assert api.get("accounts", renewed["access_token"]).status_code == 401


def test_a_contract_selection_shares_only_the_picked_contract(sample, recipient, api):
    details = [
        {
            "type": "cds_service_contracts_1",
            "authorization_form_selection_type": "service_contract_selection",
            "include_meter_devices": True,
        }
    ]
    body = approved_tokens(
        recipient,
        ["sc-sample-r1e"],
        scope="cds_service_contracts_1",
        authorization_details=json.dumps(details),
    )
    tok = body["access_token"]
    contracts = api.rows("service-contracts", tok, "service_contracts")
    assert [c["cds_servicecontract_id"] for c in contracts] == ["sc-sample-r1e"]
    meters = api.rows("meter-devices", tok, "meter_devices")
    assert [m["cds_meterdevice_id"] for m in meters] == ["md-sample-r1e"]


def test_preselections_tick_boxes_and_a_mismatch_shows_the_preselection_error(sample, recipient):
    ticked = [{"type": "cds_accounts_1", "account_numbers": ["1001-4410-7"]}]
    browser, url, _ = consent("alice", recipient, authorization_details=json.dumps(ticked))
    page = browser.get(url).content.decode()
    assert 'value="acc-sample-r1" checked' in page
    foreign = [
        {
            "type": "cds_accounts_1",
            "account_numbers": ["1001-5523-2"],
            "error_if_no_preselections": True,
        }
    ]
    browser, url, _ = consent("alice", recipient, authorization_details=json.dumps(foreign))
    page = browser.get(url)
    text = page.content.decode()
    assert "Sunny Solar" in text and "1001-5523-2" in text  # what the client itself asked
    assert "1001-4410-7" not in text  # nothing of the customer's is revealed
    query = redirect_query(browser.post(url, {"decision": "no_match"}))
    assert query["error"] == "invalid_authorization_details"
    without_flag = [{"type": "cds_accounts_1", "account_numbers": ["1001-5523-2"]}]
    browser, url, _ = consent("alice", recipient, authorization_details=json.dumps(without_flag))
    page = browser.get(url).content.decode()
    assert 'value="acc-sample-r1" checked' not in page


def test_approval_makes_a_receipt_emailed_and_listed_in_the_grants_api(
    sample, recipient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = approved_tokens(recipient, ["acc-sample-r1"])
    grant = Grant.objects.get(pk=body["cds_grant_ids"][0])
    receipt = Receipt.objects.get(grant=grant)
    assert receipt.key not in receipt.confirmation and receipt.confirmation not in receipt.key
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert receipt.confirmation in message.body and receipt.key in message.body
    assert grant.customer.username == "alice"
    assert grant.selection == {
        "type": "account_selection",
        "ids": ["acc-sample-r1"],
        "include_future": False,
    }


def test_a_receipt_loads_without_login_and_shows_customer_data_only_to_its_customer(
    sample, recipient
):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    receipt = Receipt.objects.get(grant_id=body["cds_grant_ids"][0])
    url = f"/receipts/{receipt.key}"
    anonymous = Client().get(url)
    assert anonymous.status_code == 200
    text = anonymous.content.decode()
    assert receipt.confirmation in text and "Sunny Solar" in text and "Active" in text
    assert 'rel="noopener nofollow"' in text
    assert "noindex" in text and anonymous["X-Robots-Tag"].startswith("noindex")
    assert "1001-4410-7" not in text and "acc-sample-r1" not in text
    assert "1001-4410-7" in logged_in("alice").get(url).content.decode()
    assert "1001-4410-7" not in logged_in("bob").get(url).content.decode()
    assert Client().get("/receipts/not-a-receipt").status_code == 404


def test_revoking_from_the_receipt_needs_no_login_and_stops_the_client_at_once(
    sample, recipient, api
):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    receipt = Receipt.objects.get(grant_id=body["cds_grant_ids"][0])
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/receipts/{receipt.key}")
    csrf = page.cookies["csrftoken"].value
    response = browser.post(f"/receipts/{receipt.key}/revoke", {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 302
    assert Grant.objects.get(pk=receipt.grant_id).status == "revoked"
    assert api.get("accounts", body["access_token"]).status_code == 401
    assert "Revoked" in Client().get(f"/receipts/{receipt.key}").content.decode()


def test_a_customer_lists_their_grants_and_revokes_one(sample, recipient, api):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    grant_id = body["cds_grant_ids"][0]
    alice = logged_in("alice")
    page = alice.get("/my/grants").content.decode()
    assert "Sunny Solar" in page and "Active" in page
    assert "Sunny Solar" not in logged_in("bob").get("/my/grants").content.decode()
    assert logged_in("bob").post(f"/my/grants/{grant_id}/revoke").status_code == 404
    assert Client().get("/my/grants").status_code == 302  # login first
    assert alice.post(f"/my/grants/{grant_id}/revoke").status_code == 302
    assert api.get("accounts", body["access_token"]).status_code == 401


def test_the_default_redirect_ends_on_the_receipt(sample, recipient):
    browser, url, _ = consent("alice", recipient, redirect_uri=None)
    response = approve(browser, url, ["acc-sample-r1"])
    assert response.status_code == 302
    assert f"/oauth/default-redirect/{recipient.client_id}?code=" in response["Location"]
    landed = browser.get(response["Location"].split("://", 1)[1].partition("/")[2].join(["/", ""]))
    assert landed.status_code == 302 and landed["Location"].startswith("/receipts/")
    declined = browser.post(
        authorize_url(request_params(recipient, redirect_uri=None)), {"decision": "decline"}
    )
    error_page = browser.get("/" + declined["Location"].split("://", 1)[1].partition("/")[2])
    assert error_page.status_code == 400 and "You declined" in error_page.content.decode()


def test_client_defaults_fill_in_what_a_request_omits(sample, recipient, api):
    recipient.cds_default_scope = "cds_usage_1"
    recipient.cds_default_authorization_details = [{"type": "cds_usage_1", "segment_start": "P7D"}]
    recipient.save()
    body = approved_tokens(recipient, ["acc-sample-r1"], scope=None)
    assert body["scope"] == "cds_usage_1"
    assert body["authorization_details"][0]["segment_start"] != "P7D"


def test_authorizing_a_grant_again_updates_it_for_its_own_customer_only(sample, recipient):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    grant_id = body["cds_grant_ids"][0]
    browser, url, _ = consent("bob", recipient, cds_grant_id=grant_id)
    assert redirect_query(browser.get(url))["error"] == "cds_grant_id_invalid_user"
    again = approved_tokens(
        recipient, ["acc-sample-r1"], scope="cds_usage_1", cds_grant_id=grant_id
    )
    assert again["cds_grant_ids"] == [grant_id]
    grant = Grant.objects.get(pk=grant_id)
    assert grant.scope == "cds_usage_1"
    first, second = Receipt.objects.filter(grant=grant).order_by("created", "pk")
    assert first.superseded_by == second


def test_a_confidential_client_pushes_with_its_secret_and_a_public_one_cannot_borrow_it(
    sample, recipient
):
    confidential = ApplicationFactory(
        authorization_grant_type="authorization-code", redirect_uris=REDIRECT
    )
    params = request_params(confidential)
    assert Client().post("/oauth/par", params).status_code == 401
    ok = Client().post("/oauth/par", {**params, "client_secret": "s3cret-s3cret-s3cret"})
    assert ok.status_code == 201
    stolen = Client().get(
        authorize_url({"client_id": recipient.client_id, "request_uri": ok.json()["request_uri"]})
    )
    assert stolen.status_code == 400
    assert (
        Client().post("/oauth/par", {**request_params(recipient), "request_uri": "x"}).status_code
        == 400
    )
    bad = Client().post("/oauth/par", request_params(recipient, scope="nonsense"))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_scope"


def test_a_confidential_consent_client_finds_its_grant_by_receipt_and_reads_it_as_grant_admin(
    sample, api
):
    client = ApplicationFactory(
        authorization_grant_type="authorization-code", redirect_uris=REDIRECT
    )
    browser, url, _ = consent("alice", client, redirect_uri=None)
    approve(browser, url, ["acc-sample-r1"])
    receipt = Receipt.objects.get(grant__client=client)
    secret = {"client_id": client.client_id, "client_secret": "s3cret-s3cret-s3cret"}
    admin = Client().post(
        "/oauth/token", {"grant_type": "client_credentials", "scope": "cds_client_admin", **secret}
    )
    assert admin.status_code == 200, admin.content
    headers = {"HTTP_AUTHORIZATION": f"Bearer {admin.json()['access_token']}"}
    listed = (
        Client()
        .get("/cds-api/v1/grants", {"receipt_confirmations": receipt.confirmation}, **headers)
        .json()["grants"]
    )
    assert [g["grant_id"] for g in listed] == [receipt.grant_id]
    assert listed[0]["receipt_confirmations"] == [receipt.confirmation]
    none = Client().get("/cds-api/v1/grants", {"receipt_confirmations": "CDS-NOPE"}, **headers)
    assert none.json()["grants"] == []
    entry = [
        {"type": "cds_grant_admin_1", "client_id": client.client_id, "grant_id": receipt.grant_id}
    ]
    reader = Client().post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": "cds_grant_admin_1",
            "authorization_details": json.dumps(entry),
            **secret,
        },
    )
    assert reader.status_code == 200, reader.content
    accounts = api.rows("accounts", reader.json()["access_token"], "accounts")
    assert [a["cds_account_id"] for a in accounts] == ["acc-sample-r1"]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def curl_form(line: str) -> dict[str, str]:
    """The form fields a printed ``curl -d``/``--data-urlencode`` line posts."""
    words = shlex.split(line)
    fields = [
        value for flag, value in itertools.pairwise(words) if flag in ("-d", "--data-urlencode")
    ]
    return dict(field.split("=", 1) for field in fields)


def test_the_demo_walkthrough_works_as_printed(demo_small, api, capsys):
    call_command("cds_demo_grants")
    out = capsys.readouterr().out
    lines = out.splitlines()
    par_line = next(line for line in lines if "/oauth/par" in line)
    exchange_line = next(line for line in lines if "grant_type=authorization_code" in line)
    pushed = Client().post("/oauth/par", curl_form(par_line))
    assert pushed.status_code == 201, pushed.content
    url = authorize_url({"client_id": "demo-app", "request_uri": pushed.json()["request_uri"]})
    browser = Client()
    assert browser.login(username="alice", password="demo")
    query = redirect_query(approve(browser, url, ["acc-r1"]))
    token = Client().post(
        "/oauth/token", curl_form(exchange_line.replace("code=CODE", f"code={query['code']}"))
    )
    assert token.status_code == 200, token.content
    meters = api.rows("meter-devices", token.json()["access_token"], "meter_devices")
    assert {m["cds_meterdevice_id"] for m in meters} == {"md-r1e", "md-r1g"}


def test_cds_client_registers_consent_clients_public_or_confidential(db, capsys):
    call_command(
        "cds_client",
        "create",
        "--name",
        "App",
        "--client-id",
        "app",
        "--public",
        "--redirect-uri",
        REDIRECT,
        "--default-scope",
        "cds_usage_1",
    )
    shown = json.loads(capsys.readouterr().out)
    assert "client_secret" not in shown
    assert shown["cds_default_redirect_uri"].endswith("/oauth/default-redirect/app")
    call_command(
        "cds_client", "create", "--name", "Web", "--client-id", "web", "--redirect-uri", REDIRECT
    )
    assert json.loads(capsys.readouterr().out)["client_secret"]
    for wrong in (
        ["--public"],
        ["--redirect-uri", "javascript:alert(1)"],
        ["--redirect-uri", REDIRECT, "--default-scope", "cds_query_accounts_1"],
    ):
        with pytest.raises(CommandError):
            call_command("cds_client", "create", "--name", "Bad", *wrong)


def test_prompt_login_asks_a_customer_to_log_in_again_unless_they_just_did(sample, recipient):
    browser, url, _ = consent("alice", recipient, prompt="login")
    assert browser.get(url).status_code == 200  # logged in a moment ago
    user = get_user_model().objects.get(username="alice")
    user.last_login = user.last_login - timedelta(hours=1)
    user.save()
    response = browser.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login?")
    assert browser.get("/my/grants").status_code == 200  # asked again, never logged out by a link
    assert browser.post("/login", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert browser.get(url).status_code == 200


def test_a_pushed_request_expires_and_is_used_once(sample, recipient):
    pushed = Client().post("/oauth/par", request_params(recipient)).json()
    url = authorize_url({"client_id": recipient.client_id, "request_uri": pushed["request_uri"]})
    browser = logged_in("alice")
    redirect_query(browser.post(url, {"decision": "decline"}))
    assert browser.get(url).status_code == 400
    pushed = Client().post("/oauth/par", request_params(recipient)).json()
    PushedRequest.objects.update(expires=timezone.now())
    url = authorize_url({"client_id": recipient.client_id, "request_uri": pushed["request_uri"]})
    assert browser.get(url).status_code == 400


def test_a_receipt_shows_what_changed_since_approval(sample, recipient):
    body = approved_tokens(recipient, ["acc-sample-r1"], scope="cds_accounts_1 cds_usage_1")
    grant = Grant.objects.get(pk=body["cds_grant_ids"][0])
    receipt = Receipt.objects.get(grant=grant)
    assert "Changed since" not in Client().get(f"/receipts/{receipt.key}").content.decode()
    lifecycle.reduce_scope(grant, "cds_accounts_1")
    page = Client().get(f"/receipts/{receipt.key}").content.decode()
    assert "Changed since you approved" in page
    assert "cds_accounts_1 cds_usage_1" in page  # as approved, beside what holds now


def test_the_demo_confidential_app_lists_its_grants_as_printed(demo_small, capsys):
    call_command("cds_demo_grants")
    lines = capsys.readouterr().out.splitlines()
    admin_line = next(line for line in lines if "scope=cds_client_admin" in line)
    words = shlex.split(admin_line)
    user, _, secret = words[words.index("-u") + 1].partition(":")
    browser = Client()
    assert browser.login(username="alice", password="demo")
    pushed = Client().post(
        "/oauth/par",
        request_params(
            Application.objects.get(client_id=user), redirect_uri="http://localhost:8765/callback"
        ),
        HTTP_AUTHORIZATION=basic(user, secret),
    )
    assert pushed.status_code == 201, pushed.content
    url = authorize_url({"client_id": user, "request_uri": pushed.json()["request_uri"]})
    redirect_query(approve(browser, url, ["acc-r1"]))
    admin = Client().post(
        "/oauth/token", curl_form(admin_line), HTTP_AUTHORIZATION=basic(user, secret)
    )
    assert admin.status_code == 200, admin.content
    grants = (
        Client()
        .get("/cds-api/v1/grants", HTTP_AUTHORIZATION=f"Bearer {admin.json()['access_token']}")
        .json()["grants"]
    )
    assert "cds_accounts_1" in [g["scope"] for g in grants]


def test_include_future_adds_only_what_the_customer_gets_later(sample, recipient, api):
    browser, url, _ = consent("bob", recipient)
    code = redirect_query(approve(browser, url, ["acc-sample-r2"], include_future="on"))["code"]
    body = exchange(code, recipient).json()
    tok = body["access_token"]
    assert [a["cds_account_id"] for a in api.rows("accounts", tok, "accounts")] == ["acc-sample-r2"]
    later = AccountVersionFactory(account=AccountFactory(cds_account_id="acc-r9")).account
    later.holders.add(get_user_model().objects.get(username="bob"))
    ids = sorted(a["cds_account_id"] for a in api.rows("accounts", tok, "accounts"))
    assert ids == ["acc-r9", "acc-sample-r2"]  # acc-sample-r3, bob's then, not picked: out
    receipt = Receipt.objects.get(grant_id=body["cds_grant_ids"][0])
    assert [i["id"] for i in receipt.selection["items"]] == ["acc-sample-r2"]


def test_an_account_that_moves_to_another_customer_leaves_the_grant(sample, recipient, api):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    tok = body["access_token"]
    assert api.rows("accounts", tok, "accounts")
    account = Account.objects.get(cds_account_id="acc-sample-r1")
    account.holders.set([get_user_model().objects.get(username="bob")])
    assert api.rows("accounts", tok, "accounts") == []


def test_a_partial_contract_selection_shows_no_account_wide_statement(sample, recipient, api):
    details = [
        {
            "type": "cds_service_bills_1",
            "authorization_form_selection_type": "service_contract_selection",
            "include_bill_statements": True,
            "include_bill_statement_charges": True,
        }
    ]
    params = {"scope": "cds_service_bills_1", "authorization_details": json.dumps(details)}
    partial = approved_tokens(recipient, ["sc-sample-r1e"], **params)["access_token"]
    assert api.rows("bill-statements", partial, "bill_statements") == []
    assert api.rows("bill-sections", partial, "bill_sections")
    whole = approved_tokens(recipient, ["sc-sample-r1e", "sc-sample-r1g"], **params)["access_token"]
    assert api.rows("bill-statements", whole, "bill_statements")


def test_a_pushed_request_is_approved_once(sample, recipient):
    pushed = Client().post("/oauth/par", request_params(recipient)).json()
    url = authorize_url({"client_id": recipient.client_id, "request_uri": pushed["request_uri"]})
    browser = logged_in("alice")
    redirect_query(approve(browser, url, ["acc-sample-r1"]))
    assert approve(browser, url, ["acc-sample-r1"]).status_code == 400
    assert Grant.objects.filter(client=recipient).count() == 1


def test_a_token_request_that_loses_a_race_for_its_code_is_invalid_grant(sample, recipient):
    from oauth2_provider import views

    from cdsapi.models import AuthorizationCode

    with patch.object(views.TokenView, "post", side_effect=AuthorizationCode.DoesNotExist):
        response = exchange("spent", recipient)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_expires_in_the_past_is_refused_before_login(sample, recipient):
    details = [{"type": "cds_usage_1", "expires": "2020-01-01T00:00:00Z"}]
    query = redirect_query(
        Client().get(
            authorize_url(
                request_params(
                    recipient, scope="cds_usage_1", authorization_details=json.dumps(details)
                )
            )
        )
    )
    assert query["error"] == "invalid_authorization_details"
    assert "authorization_details[0].expires" in query["error_description"]


def test_the_default_redirect_error_page_shows_only_its_own_words(sample, recipient):
    page = Client().get(
        f"/oauth/default-redirect/{recipient.client_id}",
        {"error": "access_denied", "error_description": "Call 1-800-SCAM"},
    )
    assert page.status_code == 400
    text = page.content.decode()
    assert "SCAM" not in text and "You declined" in text


def test_a_public_client_revokes_its_own_token(sample, recipient, api):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    response = Client().post(
        "/oauth/revoke_token", {"token": body["access_token"], "client_id": recipient.client_id}
    )
    assert response.status_code == 200
    assert api.get("accounts", body["access_token"]).status_code == 401


def test_repeated_decisions_and_invisible_formatting_characters_are_refused(sample, recipient):
    browser, url, _ = consent("alice", recipient)
    response = browser.post(
        url, {"decision": ["decline", "approve"], "resource": ["acc-sample-r1"]}
    )
    assert response.status_code == 400
    assert not Grant.objects.exists()
    details = [{"type": "cds_accounts_1", "account_numbers": ["1001\u202e7-0144"]}]
    page = Client().get(
        authorize_url(
            request_params(recipient, authorization_details=json.dumps(details, ensure_ascii=False))
        )
    )
    assert page.status_code == 400 and "formatting" in page.content.decode()


def test_a_section_naming_an_unpicked_contract_is_not_served(sample, recipient, api):
    statement = BillStatement.objects.filter(account__cds_account_id="acc-sample-r1").first()
    BillSectionFactory(
        cds_billsection_id="bsec-shared",
        statement=statement,
        related_servicecontracts=["sc-sample-r1e", "sc-sample-r1g"],
        start_date=statement.statement_date,
        end_date=statement.statement_date,
    )
    details = [
        {
            "type": "cds_service_bills_1",
            "authorization_form_selection_type": "service_contract_selection",
        }
    ]
    params = {"scope": "cds_service_bills_1", "authorization_details": json.dumps(details)}

    def section_ids(picked: list[str]) -> list[str]:
        tok = approved_tokens(recipient, picked, **params)["access_token"]
        rows = api.rows("bill-sections", tok, "bill_sections")
        return [r["cds_billsection_id"] for r in rows]

    assert "bsec-shared" not in section_ids(["sc-sample-r1e"])
    assert "bsec-shared" in section_ids(["sc-sample-r1e", "sc-sample-r1g"])


def test_escaped_invisible_characters_in_details_are_refused(sample, recipient):
    for text in ("SOLAR\u202e-1", "a\u200bb", "x\u00ady", "t\U000e0041", "\u3164"):
        details = [{"type": "cds_account_programs_1", "account_programs": [text]}]
        query = redirect_query(
            Client().get(
                authorize_url(
                    request_params(
                        recipient,
                        scope="cds_account_programs_1",
                        authorization_details=json.dumps(details),
                    )
                )
            )
        )
        assert query["error"] == "invalid_authorization_details", text


def test_client_sent_values_are_quoted_on_the_consent_page(sample, recipient):
    details = [
        {"type": "cds_account_programs_1", "account_programs": ["SOLAR-1; Access until: today"]}
    ]
    browser, url, _ = consent(
        "alice",
        recipient,
        scope="cds_account_programs_1",
        authorization_details=json.dumps(details),
    )
    assert "only “SOLAR-1; Access until: today”" in browser.get(url).content.decode()


def test_a_grant_closed_while_the_customer_approves_again_is_refused_cleanly(sample, recipient):
    body = approved_tokens(recipient, ["acc-sample-r1"])
    grant = Grant.objects.get(pk=body["cds_grant_ids"][0])
    browser, url, _ = consent("alice", recipient, cds_grant_id=grant.pk)
    assert browser.get(url).status_code == 200
    with patch("consent.authorization._grant", return_value=grant):
        lifecycle.close_grant(Grant.objects.get(pk=grant.pk))
        query = redirect_query(approve(browser, url, ["acc-sample-r1"]))
    assert query["error"] == "cds_grant_id_invalid_value"
    assert Grant.objects.get(pk=grant.pk).status == "closed"


def test_the_demo_prints_its_clients_secret_and_a_working_token_request(demo_small, api, capsys):
    call_command("cds_demo_grants")
    lines = capsys.readouterr().out.splitlines()
    line = next(x for x in lines if "-u demo-recipient:" in x).lstrip("# ")
    words = shlex.split(line)
    client_id, _, secret = words[words.index("-u") + 1].partition(":")
    response = Client().post(
        "/oauth/token", curl_form(line), HTTP_AUTHORIZATION=basic(client_id, secret)
    )
    assert response.status_code == 200, response.content
    assert api.get("service-contracts", response.json()["access_token"]).status_code == 200
