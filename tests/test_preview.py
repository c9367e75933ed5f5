"""The admin's grant preview (cdsapi.grants.preview): each endpoint's first page exactly as a
client reads it (decrypted, for a grant with a jwk), next links on CDS_ISSUER, its own
permission, an access log row per endpoint under the staff user, no token ever saved, and
a plain-language summary of what the grant shows and hides."""

import gzip
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from jwcrypto import jwe
from jwcrypto import jwk as jwcrypto_jwk

from accesslog.models import AccessLogEntry
from cdsapi.grants import lifecycle
from cdsapi.grants.preview import ENDPOINTS, preview
from cdsapi.grants.summary import summarize
from cdsapi.models import AccessToken, Grant
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db(databases=["default", "accesslog"])
API = "/cds-customerdata-api/v1/"

LEGACY = [
    {"type": "cds_current_accounts_details", "fields": ["account_number", "account_name"]},
    {"type": "cds_bill_statements", "flavor": "usage_only", "statement_date_start": "2020-01-01"},
    {"type": "cds_usage", "aggregation_type": "daily_aggregates"},
]
UPSTREAM = [
    {
        "type": "cds_service_contracts_1",
        "include_account_numbers": True,
        "include_rate_plans": True,
    },
    {"type": "cds_meters_1", "include_service_points": True, "include_meter_numbers": True},
    {"type": "cds_service_bills_1", "include_bill_statements": True},
    {"type": "cds_usage_1", "include_meter_devices": True},
]


@pytest.fixture
def sample(db, sample_path):
    call_command("cds_import", str(sample_path), "--no-progress")


@pytest.fixture
def issuer_is_testserver(settings):
    """Next links of the client's calls (on the test server) and of the preview (on the
    issuer) are then the same URLs, so whole bodies compare byte for byte."""
    settings.CDS_ISSUER = "http://testserver"


def client_reads(token: str, endpoint: str, private=None) -> tuple[int, str]:
    """What a real client gets from the API with a real token: status and decoded body."""
    response = Client().get(
        API + endpoint, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_ENCODING="gzip"
    )
    body = response.content
    if response.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    if private is not None:
        assert response["Content-Type"].startswith("application/jose")
        received = jwe.JWE()
        received.deserialize(body.decode(), key=private)
        body = received.payload
    return response.status_code, body.decode("utf-8")


def assert_preview_is_what_the_client_reads(grant: Grant, private=None) -> list:
    token, _ = lifecycle.issue_token(grant)
    shown = preview(grant, "staffer")
    assert [p.endpoint for p in shown] == list(ENDPOINTS)
    for p in shown:
        assert (p.status, p.body) == client_reads(token, p.endpoint, private), p.endpoint
    return shown


@pytest.mark.usefixtures("sample", "issuer_is_testserver")
@pytest.mark.parametrize("details", [LEGACY, UPSTREAM], ids=["legacy", "upstream"])
@pytest.mark.parametrize("page_size", [100, 2])
def test_the_preview_is_the_decoded_api_response_for_every_endpoint(
    details, page_size, settings
) -> None:
    settings.CDS_PAGE_SIZE = page_size
    grant = lifecycle.create_grant(
        ApplicationFactory(), ["acc-sample-r1", "acc-sample-r2"], details
    )
    shown = assert_preview_is_what_the_client_reads(grant)
    served = [p for p in shown if p.status == 200]
    assert len(served) >= 3 and any(p.rows for p in served)
    if page_size == 2:
        assert any(p.next for p in served)


@pytest.mark.usefixtures("sample", "issuer_is_testserver")
def test_a_jwk_grant_previews_the_plaintext_the_client_decrypts() -> None:
    private = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256")
    public = {**json.loads(private.export_public()), "use": "enc"}
    details = [{**entry, "jwk": public} for entry in UPSTREAM]
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], details)
    shown = assert_preview_is_what_the_client_reads(grant, private)
    assert all(p.encrypted for p in shown)
    assert all(p.content_type.startswith("application/json") for p in shown)


@pytest.mark.usefixtures("sample")
def test_next_links_are_built_on_the_issuer_not_the_admins_host(settings, client) -> None:
    settings.CDS_ISSUER = "https://api.example.org"
    settings.ALLOWED_HOSTS = ["admin.internal"]  # the admin's host; not the issuer's
    settings.CDS_PAGE_SIZE = 1
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1", "acc-sample-r2"], LEGACY)
    shown = {p.endpoint: p for p in preview(grant, "staffer")}
    accounts = shown["accounts"]
    assert accounts.status == 200 and accounts.rows == 1
    assert accounts.url == "https://api.example.org/cds-customerdata-api/v1/accounts"
    assert accounts.next == "https://api.example.org/cds-customerdata-api/v1/accounts?offset=1"
    assert shown["usage-segments"].next.startswith(
        "https://api.example.org/cds-customerdata-api/v1/usage-segments?"
    )
    # The same page, from the admin: the links stay on the issuer.
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    url = reverse("admin:cdsapi_grant_preview", args=[grant.pk])
    page = client.get(url, {"endpoint": "accounts"}, HTTP_HOST="admin.internal")
    assert page.status_code == 200, page.content[:500]
    assert "https://api.example.org/cds-customerdata-api/v1/accounts?offset=1" in page.text
    assert "admin.internal" not in page.text
    # The access log admin tells previews from client requests.
    log = reverse("admin:accesslog_accesslogentry_changelist")
    previews = client.get(log, {"made_by": "previews"}, HTTP_HOST="admin.internal")
    cell = '<td class="field-staff_user">boss</td>'
    assert previews.status_code == 200 and cell in previews.text
    clients = client.get(log, {"made_by": "clients"}, HTTP_HOST="admin.internal")
    assert clients.status_code == 200 and cell not in clients.text


@pytest.mark.usefixtures("sample")
def test_an_issuer_with_a_path_keeps_it_in_every_link(settings) -> None:
    settings.CDS_ISSUER = "https://data.example.org/cds"
    settings.CDS_PAGE_SIZE = 1
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1", "acc-sample-r2"], LEGACY)
    (accounts,) = preview(grant, "staffer", ("accounts",))
    base = "https://data.example.org/cds/cds-customerdata-api/v1/accounts"
    assert (accounts.url, accounts.next) == (base, base + "?offset=1")
    assert AccessLogEntry.objects.get().endpoint == "accounts"


@pytest.mark.usefixtures("sample", "issuer_is_testserver")
@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_an_inactive_grant_previews_the_apis_own_error(how) -> None:
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], LEGACY)
    token, _ = lifecycle.issue_token(grant)
    if how == "revoked":
        lifecycle.revoke_grant(grant)
    else:
        Grant.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))
    grant.refresh_from_db()
    for p in preview(grant, "staffer"):
        assert (p.status, p.body) == client_reads(token, p.endpoint)
        assert p.status == 401 and p.data["error"] == "invalid_token"
        assert how in p.data["error_description"]
    words = summarize(grant)
    assert not words.serves and words.headline.startswith("Serves nothing")


@pytest.mark.usefixtures("sample")
def test_no_token_is_saved_and_each_endpoint_is_logged_under_the_staff_user() -> None:
    grant = lifecycle.create_grant(ApplicationFactory(client_id="solar"), ["acc-sample-r1"], LEGACY)
    tokens = AccessToken.objects.count()
    shown = preview(grant, "staffer")
    assert AccessToken.objects.count() == tokens
    rows = {r.endpoint: r for r in AccessLogEntry.objects.all()}
    assert sorted(rows) == sorted(ENDPOINTS)
    for p in shown:
        row = rows[p.endpoint]
        assert (row.staff_user, row.client_id, row.grant_id) == ("staffer", "solar", grant.pk)
        assert (row.status, row.request_id) == (p.status, p.request_id)
        assert len(row.request_id) == 32
    assert rows["accounts"].rows == 1 and rows["accounts"].accounts == "acc-sample-r1"
    assert len({r.request_id for r in rows.values()}) == len(ENDPOINTS)


def test_a_clients_own_request_is_logged_without_a_staff_user(sample, api) -> None:
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], LEGACY)
    token, _ = lifecycle.issue_token(grant)
    assert api.get("accounts", token).status_code == 200
    assert AccessLogEntry.objects.get().staff_user == ""


# -- the admin page ----------------------------------------------------------------------


def staff(username: str, *perms: str):
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.mark.usefixtures("sample")
def test_the_preview_needs_its_own_permission(client) -> None:
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], LEGACY)
    change = reverse("admin:cdsapi_grant_change", args=[grant.pk])
    url = reverse("admin:cdsapi_grant_preview", args=[grant.pk])
    assert url == f"/admin/cdsapi/grant/{grant.pk}/preview/"

    client.force_login(staff("viewer", "view_grant", "change_grant"))
    page = client.get(change)
    assert page.status_code == 200 and url not in page.text
    assert client.get(url).status_code == 403
    assert not AccessLogEntry.objects.exists()

    client.force_login(staff("previewer", "view_grant", "change_grant", "preview_grant"))
    page = client.get(change)
    assert url in page.text and "Preview what this grant shows" in page.text
    page = client.get(url)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert AccessLogEntry.objects.filter(staff_user="previewer").count() == len(ENDPOINTS)


@pytest.mark.usefixtures("sample")
def test_the_preview_page_shows_the_summary_and_each_body_pretty(client, settings) -> None:
    settings.CDS_PAGE_SIZE = 1
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], LEGACY)
    client.force_login(staff("previewer", "preview_grant"))
    url = reverse("admin:cdsapi_grant_preview", args=[grant.pk])
    page = client.get(url)
    assert page.status_code == 200
    text = page.text
    assert "Serves data now" in text and "acc-sample-r1" in text
    assert "Usage only, no money" in text and "daily aggregates" in text
    shown = {p.endpoint: p for p in preview(grant, "again")}
    for endpoint in ENDPOINTS:
        assert f'id="{endpoint}"' in text
    assert '"bill_statements": [' in shown["bill-statements"].pretty
    # Decimals keep their digits in the pretty body (no float on the way).
    usage = shown["usage-segments"]
    assert usage.status == 200 and usage.pretty.count("\n") > 5
    assert json.loads(usage.body) == json.loads(usage.pretty)
    assert usage.body.replace(" ", "") == usage.pretty.replace(" ", "").replace("\n", "")
    one = client.get(url, {"endpoint": "accounts"})
    assert 'id="accounts"' in one.text and 'id="usage-segments"' not in one.text
    assert client.get(url, {"endpoint": "nope"}).status_code == 404
    assert client.post(url).status_code == 405


# -- the summary ---------------------------------------------------------------------------


def test_the_summary_says_what_a_legacy_grant_shows_and_hides(sample, settings) -> None:
    grant = lifecycle.create_grant(
        ApplicationFactory(),
        ["acc-sample-r1", "acc-sample-r2"],
        LEGACY,
        expires=timezone.now() + timedelta(days=3),
    )
    words = summarize(grant)
    assert words.serves
    facts = dict(words.facts)
    assert facts["Accounts selected"] == "acc-sample-r1, acc-sample-r2"
    assert facts["Status"] == "active" and settings.CDS_TIMEZONE in facts["Access until"]
    accounts, bills, usage = words.entries
    assert "Account fields: customer number, account entity, account address" in " ".join(
        accounts.hides
    )
    assert "Flavor: Usage only, no money" in bills.limits
    assert any(line.startswith("Statement date from: ") and "2020" in line for line in bills.limits)
    assert any("amount_due" in line for line in bills.hides)
    assert "Finest granularity: daily aggregates" in usage.limits
    never = " ".join(words.never_shown)
    assert "Not served at all: service contracts, service points, meter devices" in never
    assert "customer_number" in never and "account_programs" in never


def test_the_summary_says_what_an_upstream_grant_shows_and_hides(sample) -> None:
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-sample-r1"], UPSTREAM)
    words = summarize(grant)
    contracts = words.entries[0]
    assert "Rate plans" in contracts.shows and "Account numbers" in contracts.shows
    hidden = " ".join(contracts.hides)
    assert "Contract numbers (contract_entity, contract_number on service contracts)" in hidden
    assert "Meter devices (not served)" in hidden
    never = " ".join(words.never_shown)
    assert "servicepoint_address on service points" in never
    assert "line_items on bill sections" in never
    assert "rateplan_code" not in never  # one entry shows it: entries combine
