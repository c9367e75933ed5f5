"""A client's enabled scopes bound what new grants to it may hold, whoever makes them: the
admin, the CLI or a customer's consent."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from cdsapi.grants import lifecycle
from cdsapi.models import Application
from tests import factories


@pytest.fixture
def account(db):
    return factories.AccountVersionFactory(account__cds_account_id="acc-e").account


def test_a_grant_outside_the_enabled_scopes_is_refused(account) -> None:
    client = factories.ApplicationFactory(cds_enabled_scopes="cds_current_accounts_details")
    lifecycle.create_grant(client, ["acc-e"], [{"type": "cds_current_accounts_details"}])
    with pytest.raises(lifecycle.GrantError, match="cds_usage not enabled for client"):
        lifecycle.create_grant(client, ["acc-e"], [{"type": "cds_usage"}])


def test_no_enabled_scopes_means_every_scope(account) -> None:
    client = factories.ApplicationFactory(cds_enabled_scopes="")
    grant = lifecycle.create_grant(client, ["acc-e"], [{"type": "cds_usage"}])
    assert grant.scope == "cds_usage"


def test_a_consent_request_outside_the_enabled_scopes_redirects_with_invalid_scope(db) -> None:
    app = factories.ApplicationFactory(
        client_type="public",
        client_secret="",
        authorization_grant_type="authorization-code",
        redirect_uris="https://recipient.example/cb",
        cds_enabled_scopes="cds_accounts_1",
    )
    params = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": "https://recipient.example/cb",
        "scope": "cds_usage_1",
        "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    response = Client().get("/oauth/authorize?" + urlencode(params))
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert "not enabled" in query["error_description"][0]


def test_the_client_form_saves_ticked_scopes(db, client) -> None:
    client.force_login(get_user_model().objects.create_superuser("op", "op@example.com", "pw"))
    response = client.post(
        reverse("admin:cdsapi_application_add"),
        {
            "name": "Scoped Recipient",
            "client_id": "scoped-1",
            "client_type": "confidential",
            "authorization_grant_type": "client-credentials",
            "redirect_uris": "",
            "client_uri": "",
            "cds_enabled_scopes": ["cds_usage", "cds_bill_statements"],
            "cds_default_scope": "",
            "cds_default_authorization_details": "null",
        },
    )
    assert response.status_code == 200, response.content[:500]
    saved = Application.objects.get(client_id="scoped-1")
    assert saved.cds_enabled_scopes == "cds_usage cds_bill_statements"
    page = client.get(reverse("admin:cdsapi_application_change", args=[saved.pk]))
    ticked = re.findall(rb'value="(\w+)"[^>]*checked', page.content)
    assert sorted(ticked) == [b"cds_bill_statements", b"cds_usage"]
