"""Tokens for upstream-vocabulary grants: the grant-admin request (WG1-02 §3.3.2) for an
operator-made consent grant, and direct access (WG3 §6.2) with preselections that narrow,
intersect and never pass the client's base set."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cdsapi.grants import lifecycle
from cdsapi.models import DirectAccess, Grant
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def sample(db, sample_path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")


def post_token(api, client, scope: str | None, details: Any = None) -> Any:
    data = {"grant_type": "client_credentials", "client_id": client.client_id}
    data["client_secret"] = SECRET
    if scope is not None:
        data["scope"] = scope
    if details is not None:
        data["authorization_details"] = json.dumps(details)
    return api.client.post("/oauth/token", data)


def admin_entry(client, grant) -> list[dict]:
    return [{"type": "cds_grant_admin_1", "client_id": client.client_id, "grant_id": grant.pk}]


# -- grant admin ---------------------------------------------------------------------------


def test_grant_admin_request_answers_in_the_upstream_shape_and_reads_the_grant(sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_usage_1"}])
    response = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "cds_grant_admin_1"
    assert body["authorization_details"] == admin_entry(client, grant)
    [new_id] = body["cds_grant_ids"]
    assert new_id != grant.pk
    assert Grant.objects.get(pk=new_id).administers == grant
    segments = api.rows("usage-segments", body["access_token"], "usage_segments")
    assert segments
    assert api.get("accounts", body["access_token"]).status_code == 403


def test_grant_admin_tokens_stop_when_the_administered_grant_is_revoked(sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    tok = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant)).json()
    lifecycle.revoke_grant(grant)
    assert api.get("accounts", tok["access_token"]).status_code == 401


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "someone-else"}, "client_id"),
        ({"grant_id": "grt_nope"}, "grant_id"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_grant_admin_request_refuses_what_wg1_02_does_not_approve(sample, api, change, message):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    [entry] = admin_entry(client, grant)
    response = post_token(api, client, "cds_grant_admin_1", [{**entry, **change}])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"
    assert message in response.json()["error_description"]


def test_grant_admin_request_refuses_another_clients_grant_and_seed_grants(sample, api):
    client, other = ApplicationFactory(), ApplicationFactory()
    theirs = lifecycle.create_grant(other, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    seed = lifecycle.create_grant(
        client, ["acc-sample-r1"], [{"type": "cds_current_accounts_details"}]
    )
    for grant in (theirs, seed):
        response = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant))
        assert response.status_code == 400, grant
    assert Grant.objects.count() == 2  # nothing half-created


def test_grant_admin_request_carries_exactly_one_entry(sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    response = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant) * 2)
    assert response.status_code == 400
    assert "exactly one entry" in response.json()["error_description"]


# -- direct access ---------------------------------------------------------------------------


def direct_client(scopes: str, accounts: str | None = None) -> Any:
    client = ApplicationFactory()
    args = ["--accounts", accounts] if accounts else ["--all-accounts"]
    call_command(
        "cds_client", "direct-access", "--client-id", client.client_id, "--scopes", scopes, *args
    )
    return client


def account_ids(api, tok: str) -> list[str]:
    return sorted(r["cds_account_id"] for r in api.rows("accounts", tok, "accounts"))


def test_direct_access_token_creates_a_grant_and_echoes_its_preselections(sample, api):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1,acc-sample-r2")
    response = post_token(api, client, "cds_query_accounts_1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "cds_query_accounts_1"
    [entry] = body["authorization_details"]
    assert entry["account_numbers"] is None
    assert entry["include_accounts"] is True
    assert entry["sync_until"] == "infinite"
    assert Grant.objects.get(pk=body["cds_grant_ids"][0]).client == client
    assert account_ids(api, body["access_token"]) == ["acc-sample-r1", "acc-sample-r2"]


def test_preselections_narrow_and_never_pass_the_base_set(sample, api):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1,acc-sample-r2")
    # acc-sample-r3's number is outside the base set: it matches nothing.
    details = [
        {
            "type": "cds_query_accounts_1",
            "account_numbers": ["1001-4410-7", "1001-6637-9"],
            "include_account_numbers": True,
        }
    ]
    body = post_token(api, client, "cds_query_accounts_1", details).json()
    assert account_ids(api, body["access_token"]) == ["acc-sample-r1"]


def test_preselections_of_several_entries_intersect(sample, api):
    client = direct_client(
        "cds_query_accounts_1 cds_query_bill_statements_1", "acc-sample-r1,acc-sample-r2"
    )
    details = [
        {"type": "cds_query_accounts_1", "account_numbers": ["1001-4410-7", "1001-5523-2"]},
        {"type": "cds_query_bill_statements_1", "account_numbers": ["1001-5523-2"]},
    ]
    scope = "cds_query_accounts_1 cds_query_bill_statements_1"
    tok = post_token(api, client, scope, details).json()["access_token"]
    assert account_ids(api, tok) == ["acc-sample-r2"]
    statements = api.rows("bill-statements", tok, "bill_statements")
    assert {s["cds_account_id"] for s in statements} == {"acc-sample-r2"}


def test_contract_preselection_cascades_to_points_meters_and_usage(sample, api):
    client = direct_client("cds_query_usage_1 cds_query_meter_devices_1", "acc-sample-r1")
    details = [
        {"type": "cds_query_usage_1", "contract_numbers": ["SA-100144107-E"]},
        {"type": "cds_query_meter_devices_1", "contract_numbers": ["SA-100144107-E"]},
    ]
    scope = "cds_query_usage_1 cds_query_meter_devices_1"
    tok = post_token(api, client, scope, details).json()["access_token"]
    meters = api.rows("meter-devices", tok, "meter_devices")
    assert [m["cds_meterdevice_id"] for m in meters] == ["md-sample-r1e"]
    segments = api.rows("usage-segments", tok, "usage_segments")
    assert segments
    assert {m for s in segments for m in s["related_meterdevices"]} == {"md-sample-r1e"}


def test_narrowing_the_base_set_takes_effect_on_the_next_request(sample, api):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1,acc-sample-r2")
    tok = post_token(api, client, "cds_query_accounts_1").json()["access_token"]
    DirectAccess.objects.get(client=client).accounts.set([])
    assert account_ids(api, tok) == []


@pytest.mark.parametrize(
    ("scope", "details", "error"),
    [
        ("cds_query_service_points_1", None, "invalid_scope"),
        (
            "cds_query_accounts_1",
            [{"type": "cds_query_accounts_1", "account_numbers": ["_all"]}],
            "invalid_authorization_details",
        ),
        (
            "cds_query_accounts_1",
            [{"type": "cds_query_accounts_1", "purpose": None}],
            "invalid_authorization_details",
        ),
        (
            "cds_query_accounts_1",
            [{"type": "cds_query_accounts_1", "error_if_no_preselections": True}],
            "invalid_authorization_details",
        ),
        (
            "cds_query_accounts_1",
            [
                {
                    "type": "cds_query_accounts_1",
                    "error_if_no_preselections": True,
                    "account_numbers": ["1001-6637-9"],
                }
            ],
            "invalid_authorization_details",
        ),
    ],
)
def test_direct_access_refusals(sample, api, scope, details, error):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1")
    response = post_token(api, client, scope, details)
    assert response.status_code in (400, 401), response.content
    assert response.json()["error"] == error
    assert not Grant.objects.exists()


def test_direct_and_consent_scopes_never_share_a_client(sample):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1")
    with pytest.raises(lifecycle.GrantError, match="direct access"):
        lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    consenting = ApplicationFactory()
    lifecycle.create_grant(consenting, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    with pytest.raises(CommandError, match="operator-made grants"):
        call_command(
            "cds_client",
            "direct-access",
            "--client-id",
            consenting.client_id,
            "--scopes",
            "cds_query_accounts_1",
            "--all-accounts",
        )


def test_operators_cannot_make_direct_access_grants(sample):
    with pytest.raises(lifecycle.GrantError, match="token request"):
        lifecycle.create_grant(
            ApplicationFactory(), ["acc-sample-r1"], [{"type": "cds_query_accounts_1"}]
        )


# -- jwk -------------------------------------------------------------------------------------


def test_a_grant_with_a_jwk_gets_every_body_encrypted_to_it(sample, api):
    from jwcrypto import jwe, jwk

    private = jwk.JWK.generate(kty="EC", crv="P-256", use="enc")
    public = json.loads(private.export_public())
    client = ApplicationFactory()
    grant = lifecycle.create_grant(
        client, ["acc-sample-r1"], [{"type": "cds_accounts_1", "jwk": public}]
    )
    body = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant)).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {body['access_token']}"}

    def decrypted(path: str, status: int) -> dict:
        response = api.client.get(f"/cds-customerdata-api/v1/{path}", **headers)
        assert response.status_code == status
        assert response["Content-Type"] == "application/jose"
        message = jwe.JWE()
        message.deserialize(response.content.decode(), key=private)
        return json.loads(message.payload)

    assert [a["cds_account_id"] for a in decrypted("accounts", 200)["accounts"]] == [
        "acc-sample-r1"
    ]
    assert decrypted("bill-statements", 403)["error"] == "insufficient_scope"


def test_a_private_or_signing_jwk_is_refused_when_the_grant_is_made(sample):
    from cdsapi.grants.details import InvalidAuthorizationDetails

    for key in ({"kty": "EC", "crv": "P-256", "use": "sig", "x": "a", "y": "b"}, "not a key"):
        with pytest.raises(InvalidAuthorizationDetails, match="jwk"):
            lifecycle.create_grant(
                ApplicationFactory(), ["acc-sample-r1"], [{"type": "cds_accounts_1", "jwk": key}]
            )


def test_the_admin_refuses_direct_access_for_a_consenting_client(sample):
    from cdsapi.admin.grants import DirectAccessForm

    client = ApplicationFactory()
    lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    form = DirectAccessForm(
        data={"client": client.pk, "scope": "cds_query_accounts_1", "all_accounts": True}
    )
    assert not form.is_valid()
    assert "operator-made grants" in str(form.errors)
    wrong = DirectAccessForm(
        data={"client": ApplicationFactory().pk, "scope": "cds_accounts_1", "all_accounts": True}
    )
    assert "not direct-access scopes" in str(wrong.errors)


def test_every_curl_line_the_demo_prints_works(demo_small, api, capsys):
    call_command("cds_demo_grants")
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("curl") and "Bearer" in line]
    assert len(lines) == 6
    for line in lines:
        token = line.split("Bearer ")[1].split("'")[0]
        endpoint = line.rsplit("/", 1)[1]
        assert api.get(endpoint, token).status_code == 200, line


def test_a_scope_taken_from_a_direct_client_revokes_its_grants_and_is_not_reissued(sample, api):
    client = direct_client("cds_query_accounts_1 cds_query_meter_devices_1", "acc-sample-r1")
    body = post_token(api, client, "cds_query_accounts_1 cds_query_meter_devices_1").json()
    call_command(
        "cds_client",
        "direct-access",
        "--client-id",
        client.client_id,
        "--scopes",
        "cds_query_accounts_1",
        "--accounts",
        "acc-sample-r1",
    )
    # The grant held the withdrawn scope: it is revoked, so enabling it again revives nothing.
    assert api.get("meter-devices", body["access_token"]).status_code == 401
    assert api.get("accounts", body["access_token"]).status_code == 401
    seed_request = [{"type": "cds_grant_admin", "grant_id": body["cds_grant_ids"][0]}]
    assert post_token(api, client, None, seed_request).status_code == 400


def test_an_unknown_scope_is_invalid_scope(sample, api):
    response = post_token(api, ApplicationFactory(), "bogus")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "bogus" in response.json()["error_description"]


def test_a_grant_admin_token_says_which_grant_stopped(sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    tok = post_token(api, client, "cds_grant_admin_1", admin_entry(client, grant)).json()
    lifecycle.revoke_grant(grant)
    response = api.get("accounts", tok["access_token"])
    assert "the grant it administers is revoked" in response.data_["error_description"]


def test_a_direct_access_client_holds_no_operator_made_grant_of_any_vocabulary(sample):
    client = direct_client("cds_query_accounts_1", "acc-sample-r1")
    for scope in ("cds_current_accounts_details", "cds_accounts_1"):
        with pytest.raises(lifecycle.GrantError, match="direct access"):
            lifecycle.create_grant(client, ["acc-sample-r2"], [{"type": scope}])
    seeded = ApplicationFactory()
    lifecycle.create_grant(seeded, ["acc-sample-r1"], [{"type": "cds_current_accounts_details"}])
    with pytest.raises(lifecycle.GrantError, match="operator-made grants"):
        lifecycle.set_direct_access(seeded, ["cds_query_accounts_1"], [], all_accounts=True)


def test_account_preselections_compare_the_accounts_as_served(db, api):

    account = AccountFactory(cds_account_id="acc-n")
    AccountVersionFactory(
        account=account, cds_modified=datetime(2024, 1, 1, tzinfo=UTC), account_number="A-100"
    )
    AccountVersionFactory(
        account=account, cds_modified=datetime(2025, 1, 1, tzinfo=UTC), account_number="A-200"
    )
    client = direct_client("cds_query_accounts_1", "acc-n")
    frozen = {"sync_until": "2024-12-31T00:00:00Z", "error_if_no_preselections": True}
    entry = {"type": "cds_query_accounts_1", "include_account_numbers": True, **frozen}
    old = post_token(api, client, None, [{**entry, "account_numbers": ["A-100"]}])
    assert old.status_code == 200, old.content
    [row] = api.rows("accounts", old.json()["access_token"], "accounts")
    assert row["account_number"] == "A-100"
    new = post_token(api, client, None, [{**entry, "account_numbers": ["A-200"]}])
    assert new.status_code == 400


def test_asking_for_a_scope_the_grant_lacks_says_which(sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_accounts_1"}])
    request = [{"type": "cds_grant_admin", "grant_id": grant.pk}]
    response = post_token(api, client, "cds_accounts_1 cds_usage_1", request)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "does not hold 'cds_usage_1'" in response.json()["error_description"]
