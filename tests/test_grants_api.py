"""The Grants API (CDS-WG1-02 §8): a client's own grants for its cds_client_admin token,
listed with the upstream filters, read by uri, closed and narrowed by PATCH."""

import base64
import json

import pytest

from cdsapi.grants import lifecycle
from cdsapi.models import Grant
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory

SECRET = "s3cret-s3cret-s3cret"
GRANTS = "/cds-api/v1/grants"


@pytest.fixture
def world(db):
    for ident in ("acc-g1", "acc-g2"):
        AccountVersionFactory(account=AccountFactory(cds_account_id=ident))
    client, other = ApplicationFactory(), ApplicationFactory()
    usage = lifecycle.create_grant(client, ["acc-g1"], [{"type": "cds_usage_1"}])
    both = lifecycle.create_grant(
        client, ["acc-g1"], [{"type": "cds_accounts_1"}, {"type": "cds_bill_statements_1"}]
    )
    theirs = lifecycle.create_grant(other, ["acc-g2"], [{"type": "cds_accounts_1"}])
    return client, usage, both, theirs


def admin_token(api, client) -> str:
    response = api.client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "cds_client_admin"},
        HTTP_AUTHORIZATION=basic(client),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "cds_client_admin"
    return body["access_token"]


def basic(client) -> str:
    return "Basic " + base64.b64encode(f"{client.client_id}:{SECRET}".encode()).decode()


def call(api, method: str, path: str, token: str, body: dict | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is None:
        return getattr(api.client, method)(path, **headers)
    return getattr(api.client, method)(
        path, json.dumps(body), content_type="application/json", **headers
    )


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [g["grant_id"] for g in response.json()["grants"]]


def test_a_client_lists_only_its_own_grants_newest_change_first(world, api):
    client, usage, both, theirs = world
    token = admin_token(api, client)
    listed = ids(call(api, "get", GRANTS, token))
    assert theirs.pk not in listed
    # The client-admin grant behind the token is one of the client's grants too.
    assert [g for g in listed if g in (usage.pk, both.pk)] == [both.pk, usage.pk]
    [grant] = call(api, "get", f"{GRANTS}?grant_ids={usage.pk}", token).json()["grants"]
    assert grant["uri"].endswith(f"{GRANTS}/{usage.pk}")
    assert grant["enabled_scope"] == grant["scope"] == "cds_usage_1"
    for key in ("replacing", "replaced_by", "parent", "children", "not_before", "eta"):
        assert key in grant
    assert call(api, "get", f"{GRANTS}/{theirs.pk}", token).status_code == 404


def test_upstream_filters(world, api):
    client, usage, both, _ = world
    token = admin_token(api, client)
    assert ids(call(api, "get", f"{GRANTS}?scopes=cds_usage_1", token)) == [usage.pk]
    assert ids(call(api, "get", f"{GRANTS}?grant_ids={both.pk}", token)) == [both.pk]
    assert ids(call(api, "get", f"{GRANTS}?parents=x", token)) == []
    assert usage.pk in ids(call(api, "get", f"{GRANTS}?statuses=active", token))
    assert ids(call(api, "get", f"{GRANTS}?after=2999-01-01T00:00:00Z", token)) == []
    assert call(api, "get", f"{GRANTS}?sort=x", token).status_code == 400


def test_closing_a_grant_stops_its_tokens_and_is_final(world, api):
    client, usage, _, _ = world
    data_token = lifecycle.issue_token(usage)[0]
    token = admin_token(api, client)
    closed = call(api, "patch", f"{GRANTS}/{usage.pk}", token, {"status": "closed"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["enabled_scope"] == ""
    assert closed.json()["enabled_authorization_details"] == []
    assert api.get("usage-segments", data_token).status_code == 401
    reopened = call(api, "patch", f"{GRANTS}/{usage.pk}", token, {"status": "active"})
    assert reopened.status_code == 400


def test_narrowing_the_scope_drops_the_entries_of_the_scopes_given_up(world, api):
    client, _, both, _ = world
    data_token = lifecycle.issue_token(both)[0]
    token = admin_token(api, client)
    narrowed = call(api, "patch", f"{GRANTS}/{both.pk}", token, {"scope": "cds_accounts_1"})
    assert narrowed.status_code == 200, narrowed.content
    assert narrowed.json()["scope"] == "cds_accounts_1"
    assert [e["type"] for e in narrowed.json()["authorization_details"]] == ["cds_accounts_1"]
    assert api.get("bill-statements", data_token).status_code == 403
    assert api.get("accounts", data_token).status_code == 200
    wider = call(api, "patch", f"{GRANTS}/{both.pk}", token, {"scope": "cds_usage_1"})
    assert wider.status_code == 400
    assert "only reductions" in wider.json()["error_description"]


def test_narrowing_the_details_applies_at_once_and_widening_is_refused(world, api):
    client, usage, _, _ = world
    data_token = lifecycle.issue_token(usage)[0]
    token = admin_token(api, client)
    [entry] = usage.authorization_details
    narrower = {**entry, "segment_start": "2026-01-01T00:00:00+00:00", "sync_until": "P0D"}
    narrower["include_usage_segment_value_types"] = None
    response = call(
        api, "patch", f"{GRANTS}/{usage.pk}", token, {"authorization_details": [narrower]}
    )
    assert response.status_code == 200, response.content
    [stored] = Grant.objects.get(pk=usage.pk).authorization_details
    assert stored["segment_start"] == "2026-01-01T00:00:00Z"
    assert stored["include_usage_segment_value_types"] is None
    assert api.get("usage-segments", data_token).status_code == 200
    for wider in (
        {**stored, "segment_start": "2025-01-01T00:00:00+00:00"},
        {**stored, "include_usage_segment_value_types": ["electric_usage"]},
        {**stored, "sync_until": "infinite"},
        {**stored, "include_meter_devices": True},
    ):
        response = call(
            api, "patch", f"{GRANTS}/{usage.pk}", token, {"authorization_details": [wider]}
        )
        assert response.status_code == 400, wider
        assert "only reductions" in response.json()["error_description"]
    assert Grant.objects.get(pk=usage.pk).authorization_details == [stored]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "revoked"},
        {"scope": 7},
        {"authorization_details": []},
        {"authorization_details": [{"type": "cds_accounts_1"}]},
        {"authorization_details": "[{"},
        ["closed"],
    ],
)
def test_invalid_changes_are_400_and_change_nothing(world, api, body):
    client, usage, _, _ = world
    token = admin_token(api, client)
    response = call(api, "patch", f"{GRANTS}/{usage.pk}", token, body)
    assert response.status_code == 400
    usage.refresh_from_db()
    assert usage.status == Grant.Status.ACTIVE
    assert usage.scope == "cds_usage_1"


def test_the_grants_api_needs_a_client_admin_token(world, api):
    _, usage, _, _ = world
    data_token = lifecycle.issue_token(usage)[0]
    assert call(api, "get", GRANTS, data_token).status_code == 403
    assert call(api, "get", GRANTS, "nonsense").status_code == 401
    client_admin = admin_token(api, world[0])
    assert api.get("accounts", client_admin).status_code == 403


# -- found by an outside attack ---------------------------------------------------------------


def test_a_public_client_gets_no_token_without_a_secret(world, api):
    public = ApplicationFactory(client_type="public")
    grant = lifecycle.create_grant(public, ["acc-g1"], [{"type": "cds_accounts_1"}])
    response = api.client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": public.client_id,
            "authorization_details": json.dumps(
                [{"type": "cds_grant_admin", "grant_id": grant.pk}]
            ),
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_introspection_follows_a_narrowed_scope(world, api):
    client, _, both, _ = world
    data_token = lifecycle.issue_token(both)[0]
    admin = admin_token(api, client)
    call(api, "patch", f"{GRANTS}/{both.pk}", admin, {"scope": "cds_accounts_1"})
    body = api.client.post(
        "/oauth/introspect", {"token": data_token}, HTTP_AUTHORIZATION=basic(client)
    ).json()
    assert body["scope"] == "cds_accounts_1"
    assert [e["type"] for e in body["authorization_details"]] == ["cds_accounts_1"]


def test_a_grant_admin_grant_shows_how_its_administered_grant_ended(world, api):
    client, usage, _, _ = world
    entry = [{"type": "cds_grant_admin_1", "client_id": client.client_id, "grant_id": usage.pk}]
    api.client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": "cds_grant_admin_1",
            "authorization_details": json.dumps(entry),
        },
        HTTP_AUTHORIZATION=basic(client),
    )
    admin_grant = Grant.objects.get(administers=usage)
    token = admin_token(api, client)
    call(api, "patch", f"{GRANTS}/{usage.pk}", token, {"status": "closed"})
    shown = call(api, "get", f"{GRANTS}/{admin_grant.pk}", token).json()
    assert shown["status"] == "closed"
    assert shown["enabled_scope"] == ""
    assert admin_grant.pk not in ids(call(api, "get", f"{GRANTS}?statuses=active", token))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"status": "active", "status": "closed"}', "given twice"),
        ('{"status": "active"}', "only 'closed'"),
    ],
)
def test_bad_patch_bodies_are_400_with_a_reason(world, api, body, message):
    client, usage, _, _ = world
    token = admin_token(api, client)
    response = api.client.patch(
        f"{GRANTS}/{usage.pk}",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert message in response.json()["error_description"]
    usage.refresh_from_db()
    assert usage.status == Grant.Status.ACTIVE


def test_a_client_admin_token_is_told_it_reads_no_customer_data(world, api):
    token = admin_token(api, world[0])
    response = api.get("service-contracts", token)
    assert response.status_code == 403
    assert "reads no customer data" in response.data_["error_description"]


def test_narrowing_never_reveals_what_the_grant_has_not_served(world, api):
    """Two reductions that would still show more: an aggregated entry's window drawn in
    (the totals' difference is the readings in between) and an "as of" cutoff moved into the
    past (older account versions than any served)."""
    client, _, both, _ = world
    monthly = lifecycle.create_grant(
        client,
        ["acc-g1"],
        [
            {
                "type": "cds_usage",
                "aggregation_type": "monthly_aggregates",
                "segment_start": "2025-01-01T00:00:00Z",
                "segment_end": "2026-01-01T00:00:00Z",
            }
        ],
    )
    token = admin_token(api, client)
    [entry] = monthly.authorization_details
    for bound in (
        {"segment_end": "2025-12-31T23:45:00Z"},
        {"segment_start": "2025-01-02T00:00:00Z"},
    ):
        response = call(
            api,
            "patch",
            f"{GRANTS}/{monthly.pk}",
            token,
            {"authorization_details": [{**entry, **bound}]},
        )
        assert response.status_code == 400
        assert "aggregated usage entry cannot be narrowed" in response.json()["error_description"]
    [accounts, bills] = both.authorization_details
    past = {**accounts, "sync_until": "2020-01-01T00:00:00Z"}
    response = call(
        api, "patch", f"{GRANTS}/{both.pk}", token, {"authorization_details": [past, bills]}
    )
    assert response.status_code == 400
    assert "an earlier cutoff" in response.json()["error_description"]
    soon = {**accounts, "sync_until": "P1D"}
    response = call(
        api, "patch", f"{GRANTS}/{both.pk}", token, {"authorization_details": [soon, bills]}
    )
    assert response.status_code == 200, response.content


def test_narrowing_keeps_every_entry_and_never_leaves_an_earlier_cutoff_alone(world, api):
    """Dropping one of two aggregated usage entries would show a total neither served (their
    difference is readings); dropping the scope whose entry kept accounts current would leave
    another's older cutoff to serve account versions never served."""
    client, _, _, _ = world
    token = admin_token(api, client)
    window = {"type": "cds_usage", "aggregation_type": "monthly_aggregates"}
    two = lifecycle.create_grant(
        client,
        ["acc-g1"],
        [
            {**window, "segment_start": "2025-01-01T00:00:00Z"},
            {**window, "segment_start": "2025-06-01T00:00:00Z"},
        ],
    )
    response = call(
        api,
        "patch",
        f"{GRANTS}/{two.pk}",
        token,
        {"authorization_details": [two.authorization_details[1]]},
    )
    assert response.status_code == 400
    assert "keep every entry" in response.json()["error_description"]
    mixed = lifecycle.create_grant(
        client,
        ["acc-g1"],
        [
            {"type": "cds_accounts_1"},
            {"type": "cds_bill_statements_1", "sync_until": "2026-01-01T00:00:00Z"},
        ],
    )
    dropped = call(api, "patch", f"{GRANTS}/{mixed.pk}", token, {"scope": "cds_bill_statements_1"})
    assert dropped.status_code == 400
    assert "earlier cutoff" in dropped.json()["error_description"]
    kept = call(api, "patch", f"{GRANTS}/{mixed.pk}", token, {"scope": "cds_accounts_1"})
    assert kept.status_code == 200, kept.content


def test_an_aggregation_may_become_coarser_never_finer(world, api):
    client, _, _, _ = world
    token = admin_token(api, client)
    grant = lifecycle.create_grant(
        client, ["acc-g1"], [{"type": "cds_usage", "aggregation_type": "daily_aggregates"}]
    )
    [entry] = grant.authorization_details

    def patch(level: str):
        body = {"authorization_details": [{**entry, "aggregation_type": level}]}
        return call(api, "patch", f"{GRANTS}/{grant.pk}", token, body)

    assert patch("hourly_aggregates").status_code == 400
    assert patch("monthly_aggregates").status_code == 200
    assert Grant.objects.get(pk=grant.pk).authorization_details[0]["aggregation_type"] == (
        "monthly_aggregates"
    )
