"""A resource server run apart: with CDS_AUTHORIZATION_SERVER_URL set, the Customer Data and
Grants APIs check tokens by RFC 7662 introspection at the authorization server (here a second,
in-process server: pytest-django's ``live_server``), cache the answers briefly, and serve
exactly what local mode serves."""

import base64
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cdsapi.grants import lifecycle, remote
from cdsapi.models import AccessToken, Application, Grant
from tests.factories import AccountFactory, ApplicationFactory

SECRET = "s3cret-s3cret-s3cret"
GRANTS = "/cds-api/v1/grants"
SEED = [
    {"type": "cds_current_accounts_details"},
    {"type": "cds_bill_statements"},
    {"type": "cds_usage"},
]
ENDPOINTS = (
    "accounts",
    "bill-statements",
    "bill-sections",
    "service-contracts",
    "service-points",
    "meter-devices",
    "usage-segments",
)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Cached answers must not pass from one test (and one authorization server) to the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sample(db: Any, sample_path: Any) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")


@pytest.fixture
def resource_server(db: Any, settings: Any) -> Application:
    """The resource server's introspection client, listed by the authorization server."""
    rs = ApplicationFactory(client_id="rs-introspector")
    settings.CDS_RESOURCE_SERVERS = [rs.client_id]
    settings.CDS_INTROSPECTION_CLIENT_ID = rs.client_id
    settings.CDS_INTROSPECTION_CLIENT_SECRET = SECRET
    settings.CDS_INTROSPECTION_CACHE_SECONDS = 1
    return rs


@pytest.fixture
def remote_mode(resource_server: Application, live_server: Any, settings: Any) -> str:
    settings.CDS_AUTHORIZATION_SERVER_URL = live_server.url
    return live_server.url


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the resource server asks the authorization server about (really asked)."""
    calls: list[str] = []
    ask = remote._ask

    def counting(token: str) -> dict[str, Any]:
        calls.append(token)
        return ask(token)

    monkeypatch.setattr(remote, "_ask", counting)
    return calls


class Clock:
    """How far the resource server's cache clock is ahead of the real one."""

    offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The resource server's cache clock, moved forward instead of sleeping."""
    moved = Clock()
    monkeypatch.setattr(remote, "_now", lambda: time.time() + moved.offset)
    return moved


@pytest.fixture
def seed_token(sample: None) -> tuple[Grant, str]:
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1", "acc-sample-r2"], SEED)
    return grant, lifecycle.issue_token(grant)[0]


def basic(client: Application) -> str:
    return "Basic " + base64.b64encode(f"{client.client_id}:{SECRET}".encode()).decode()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def both_modes(settings: Any, call: Callable[[], Any]) -> tuple[Any, Any]:
    """The same call answered in remote mode, then in local mode."""
    remote_answer = call()
    url = settings.CDS_AUTHORIZATION_SERVER_URL
    settings.CDS_AUTHORIZATION_SERVER_URL = ""
    local_answer = call()
    settings.CDS_AUTHORIZATION_SERVER_URL = url
    return remote_answer, local_answer


def assert_invalid_token(response: Any, description: str | None = None) -> None:
    assert response.status_code == 401, response.content
    assert response.data_["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith('Bearer realm="cdsapi", error="invalid_token"')
    if description is not None:
        assert response.data_["error_description"] == description


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.data_["error"] == "temporarily_unavailable"
    assert response["Retry-After"].isdigit()


def test_remote_mode_serves_exactly_what_local_mode_serves(
    remote_mode, seed_token, api, settings, asked
):
    _, token = seed_token
    served = 0
    for endpoint in ENDPOINTS:
        there, here = both_modes(settings, lambda e=endpoint: api.get(e, token))
        assert (there.status_code, there.content) == (here.status_code, here.content), endpoint
        served += there.status_code == 200 and bool(there.data_[endpoint.replace("-", "_")])
    assert served == 4  # accounts, statements, sections, usage; upstream-only ones are 403
    assert asked == [token]  # one introspection, then the cache, for all seven calls


def test_the_grants_api_answers_alike_and_acts_on_the_shared_grants(
    remote_mode, sample, api, settings
):
    client = ApplicationFactory()
    usage = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_usage_1"}])
    token = api.client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "cds_client_admin"},
        HTTP_AUTHORIZATION=basic(client),
    ).json()["access_token"]
    there, here = both_modes(settings, lambda: api.client.get(GRANTS, **bearer(token)))
    assert there.status_code == 200, there.content
    assert there.content == here.content
    closed = api.client.patch(
        f"{GRANTS}/{usage.pk}",
        json.dumps({"status": "closed"}),
        content_type="application/json",
        **bearer(token),
    )
    assert closed.status_code == 200, closed.content
    usage.refresh_from_db()
    assert usage.status == Grant.Status.CLOSED


def test_the_resource_server_never_reads_the_token_table(remote_mode, seed_token, api):
    _, token = seed_token
    assert api.get("accounts", token).status_code == 200  # the answer is cached now
    with CaptureQueriesContext(connection) as queries:
        assert api.get("bill-statements", token).status_code == 200
    assert queries.captured_queries
    assert not [q for q in queries.captured_queries if "accesstoken" in q["sql"].lower()]


def test_a_revoked_grant_stops_at_once_even_while_its_answer_is_cached(
    remote_mode, seed_token, api, asked, clock
):
    grant, token = seed_token
    assert api.get("accounts", token).status_code == 200
    lifecycle.revoke_grant(grant)
    assert_invalid_token(api.get("accounts", token), "the token's grant is revoked")
    assert len(asked) == 1  # the shared Grant row said so, not a new introspection
    clock.advance(1.5)
    assert_invalid_token(api.get("accounts", token))
    assert len(asked) == 2


def test_a_token_revoked_at_the_authorization_server_stops_within_the_cache_time(
    remote_mode, seed_token, api, asked, clock
):
    grant, token = seed_token
    assert api.get("accounts", token).status_code == 200
    revoked = api.client.post(
        "/oauth/revoke_token", {"token": token}, HTTP_AUTHORIZATION=basic(grant.client)
    )
    assert revoked.status_code == 200, revoked.content
    clock.advance(0.5)
    assert api.get("accounts", token).status_code == 200  # still cached (1 s)
    clock.advance(1)
    assert_invalid_token(
        api.get("accounts", token), "the access token is unknown, expired or revoked"
    )
    assert asked == [token, token]


def test_a_cached_answer_never_outlives_the_token(
    remote_mode, seed_token, api, settings, asked, clock
):
    settings.CDS_INTROSPECTION_CACHE_SECONDS = 30
    _, token = seed_token
    AccessToken.objects.update(expires=timezone.now() + timedelta(seconds=5))
    assert api.get("accounts", token).status_code == 200
    clock.advance(3)
    assert api.get("accounts", token).status_code == 200
    assert len(asked) == 1
    clock.advance(3)
    assert_invalid_token(api.get("accounts", token))


def test_the_policy_uses_only_the_scopes_introspection_returned(remote_mode, seed_token, api):
    grant, _ = seed_token
    narrow = api.client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": "cds_bill_statements",
            "authorization_details": json.dumps(
                [{"type": "cds_grant_admin", "grant_id": grant.pk}]
            ),
        },
        HTTP_AUTHORIZATION=basic(grant.client),
    ).json()["access_token"]
    assert api.get("bill-statements", narrow).status_code == 200
    assert api.get("accounts", narrow).status_code == 403
    wide = lifecycle.issue_token(grant)[0]
    assert api.get("accounts", wide).status_code == 200
    lifecycle.reduce_scope(grant, "cds_bill_statements cds_usage")
    # The cached answer still names cds_current_accounts_details; the grant no longer does.
    refused = api.get("accounts", wide)
    assert refused.status_code == 403
    assert refused.data_["error"] == "insufficient_scope"


def test_a_grant_admin_token_reads_and_stops_with_the_administered_grant(remote_mode, sample, api):
    client = ApplicationFactory()
    grant = lifecycle.create_grant(client, ["acc-sample-r1"], [{"type": "cds_usage_1"}])
    entry = {"type": "cds_grant_admin_1", "client_id": client.client_id, "grant_id": grant.pk}
    token = api.client.post(
        "/oauth/token",
        {
            "grant_type": "client_credentials",
            "scope": "cds_grant_admin_1",
            "authorization_details": json.dumps([entry]),
        },
        HTTP_AUTHORIZATION=basic(client),
    ).json()["access_token"]
    assert api.rows("usage-segments", token, "usage_segments")
    lifecycle.revoke_grant(grant)
    assert_invalid_token(api.get("usage-segments", token), "the grant it administers is revoked")


def test_an_unknown_token_or_none_is_401(remote_mode, resource_server, api, asked):
    assert_invalid_token(
        api.get("accounts", "no-such-token"), "the access token is unknown, expired or revoked"
    )
    assert_invalid_token(api.get("accounts", None))
    assert_invalid_token(api.get("accounts", "no-such-token"))
    assert asked == ["no-such-token"]  # the inactive answer is cached too
    assert api.get("accounts", None, access_token="no-such-token").status_code == 400


def test_only_a_listed_resource_server_may_introspect_others_tokens(
    remote_mode, seed_token, api, settings
):
    _, token = seed_token
    settings.CDS_RESOURCE_SERVERS = []
    assert_invalid_token(api.get("accounts", token))


def test_refused_introspection_credentials_are_503_and_logged(
    remote_mode, seed_token, api, settings, caplog
):
    _, token = seed_token
    settings.CDS_INTROSPECTION_CLIENT_SECRET = "wrong"
    with caplog.at_level(logging.ERROR, logger="cdsapi.remote"):
        assert_unavailable(api.get("accounts", token))
    assert "CDS_INTROSPECTION_CLIENT_SECRET" in caplog.text


def test_an_authorization_server_that_is_down_is_503_json(
    db, resource_server, make_grant, api, settings
):
    settings.CDS_AUTHORIZATION_SERVER_URL = closed_port_url()
    AccountFactory(cds_account_id="acc-d")
    token = lifecycle.issue_token(make_grant(["acc-d"], [{"type": "cds_usage"}]))[0]
    assert_unavailable(api.get("accounts", token))
    response = api.client.get(GRANTS, **bearer(token))
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_an_answer_that_is_not_introspection_is_503(remote_mode, seed_token, api, settings):
    _, token = seed_token
    settings.CDS_AUTHORIZATION_SERVER_URL = remote_mode + "/nowhere"
    assert_unavailable(api.get("accounts", token))


def test_a_cached_answer_rides_out_a_short_outage(remote_mode, seed_token, api, settings, clock):
    _, token = seed_token
    assert api.get("accounts", token).status_code == 200
    settings.CDS_AUTHORIZATION_SERVER_URL = closed_port_url()
    assert api.get("accounts", token).status_code == 200
    clock.advance(1.5)
    assert_unavailable(api.get("accounts", token))
