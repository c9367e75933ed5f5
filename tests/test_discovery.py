"""Discovery and introspection: the metadata documents are generated from the registry and
the URL conf (so they cannot drift), and RFC 7662 introspection answers resource servers."""

import base64
from datetime import timedelta
from importlib import metadata
from urllib.parse import urlparse

import pytest
from django.urls import resolve
from django.utils import timezone

import cdsapi
from cdsapi.grants import lifecycle, scopes
from cdsapi.models import AccessToken
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def issuer(settings) -> str:
    settings.CDS_ISSUER = "https://cds.example.net"
    return settings.CDS_ISSUER


def test_authorization_server_metadata_is_the_registry_and_the_url_conf(db, client, issuer):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public")
    meta = response.json()
    assert meta["issuer"] == issuer
    assert meta["cds_scope_descriptions"] == scopes.as_json()
    assert meta["scopes_supported"] == list(scopes.registry())
    types = {t for s in scopes.registry().values() for t in s.authorization_details_types_supported}
    assert set(meta["authorization_details_types_supported"]) == types | {"cds_grant_admin"}
    # What is served: the token endpoint's grant types, the code flow with PKCE S256 only.
    assert meta["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert meta["require_pushed_authorization_requests"] is False
    assert meta["cds_customerdata_version"] == "v1"
    assert meta["cds_timezone"] == "America/Los_Angeles"
    urls = [v for k, v in meta.items() if k.endswith(("_endpoint", "_api"))]
    assert len(urls) == 13
    for url in urls:
        parsed = urlparse(url)
        assert f"{parsed.scheme}://{parsed.netloc}" == issuer
        resolve(parsed.path)  # every advertised URL is served here


def test_cds_server_metadata_points_to_the_oauth_metadata(db, client, issuer):
    meta = client.get("/.well-known/cds-server-metadata.json").json()
    assert meta["cds_metadata_version"] == "v1"
    assert meta["capabilities"] == ["oauth"]
    assert meta["software_version"] == cdsapi.__version__ == metadata.version("cdsapi")
    assert meta["oauth_metadata"] == f"{issuer}/.well-known/oauth-authorization-server"
    assert meta["cds_metadata_url"] == f"{issuer}/.well-known/cds-server-metadata.json"
    for key in ("created", "updated", "name", "description", "website", "documentation"):
        assert meta[key]


def test_metadata_is_cacheable_and_refuses_other_methods_in_json(db, client):
    first = client.get("/.well-known/cds-server-metadata.json")
    again = client.get("/.well-known/cds-server-metadata.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    for path in ("/.well-known/oauth-authorization-server", "/"):
        refused = client.post(path)
        assert refused.status_code == 405, path
        assert refused.json()["error"] == "invalid_request"
    # No HTML CSRF page on a probe either.
    assert client.post("/healthz")["Content-Type"] == "application/json"
    assert client.get("/").json()["oauth_metadata"].endswith("/oauth-authorization-server")


# -- introspection --------------------------------------------------------------------------


@pytest.fixture
def issued(db):
    account = AccountFactory(cds_account_id="acc-i")
    AccountVersionFactory(account=account)
    owner = ApplicationFactory()
    grant = lifecycle.create_grant(owner, ["acc-i"], [{"type": "cds_accounts_1"}])
    return owner, grant, lifecycle.issue_token(grant)[0]


def introspect(client, caller, token, secret=SECRET):
    basic = base64.b64encode(f"{caller.client_id}:{secret}".encode()).decode()
    return client.post("/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")


def test_a_live_token_introspects_with_its_grant(client, issued):
    owner, grant, token = issued
    body = introspect(client, owner, token).json()
    assert body["active"] is True
    assert body["client_id"] == owner.client_id
    assert body["scope"] == "cds_accounts_1"
    assert body["cds_grant_ids"] == [grant.pk]
    assert body["authorization_details"] == grant.authorization_details
    assert body["exp"] > timezone.now().timestamp()


def test_revoked_grants_expired_tokens_and_unknown_tokens_are_inactive(client, issued):
    owner, grant, token = issued
    assert introspect(client, owner, "nonsense").json() == {"active": False}
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert introspect(client, owner, token).json() == {"active": False}
    AccessToken.objects.update(expires=timezone.now() + timedelta(hours=1))
    lifecycle.revoke_grant(grant)
    assert introspect(client, owner, token).json() == {"active": False}


def test_only_resource_servers_see_other_clients_tokens(client, issued, settings):
    _, _, token = issued
    other = ApplicationFactory()
    assert introspect(client, other, token).json() == {"active": False}
    settings.CDS_RESOURCE_SERVERS = [other.client_id]
    assert introspect(client, other, token).json()["active"] is True


def test_introspection_needs_client_authentication_and_a_token(client, issued):
    owner, _, token = issued
    refused = introspect(client, owner, token, secret="wrong")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    missing = introspect(client, owner, "")
    assert missing.status_code == 400
    assert client.get("/oauth/introspect").status_code == 405
