"""The admin shows the imported data and its account history, and refuses edits."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests import factories


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["account", "servicecontract", "servicepoint", "meterdevice"])
def test_account_data_lists_render(admin_client, model: str) -> None:
    factories.ServiceContractFactory()
    assert admin_client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200


@pytest.mark.django_db
def test_an_account_page_shows_its_version_history(admin_client) -> None:
    version = factories.AccountVersionFactory(account_name="Historic Name")
    page = admin_client.get(reverse("admin:accounts_account_change", args=[version.account_id]))
    assert page.status_code == 200
    assert b"Historic Name" in page.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "admin:bills_billstatement_changelist",
        "admin:bills_billsection_changelist",
        "admin:usage_usagesegment_changelist",
    ],
)
def test_bill_and_usage_lists_render(admin_client, url: str) -> None:
    factories.BillSectionFactory()
    factories.UsageSegmentFactory()
    assert admin_client.get(reverse(url)).status_code == 200


@pytest.mark.django_db
def test_imported_data_cannot_be_added_in_the_admin(admin_client) -> None:
    assert admin_client.get(reverse("admin:usage_usagesegment_add")).status_code == 403


@pytest.fixture
def shared_account(db):
    version = factories.AccountVersionFactory(account__cds_account_id="acc-a")
    return version.account


def grant_form(client_pk: int, account_pk: int, details: str, **extra: str) -> dict:
    return {
        "client": client_pk,
        "accounts": [account_pk],
        "scope": "",
        "authorization_details": details,
        "status": "active",
        "expires": "",
        **extra,
    }


@pytest.mark.django_db
def test_the_admin_creates_grants_with_the_same_validation(admin_client, shared_account) -> None:
    from cdsapi.models import Grant

    client = factories.ApplicationFactory()
    url = reverse("admin:cdsapi_grant_add")
    bad = admin_client.post(
        url,
        grant_form(
            client.pk, shared_account.pk, '[{"type": "cds_bill_statements", "flavor": "x"}]'
        ),
    )
    assert bad.status_code == 200
    assert b"invalid_authorization_details: authorization_details[0].flavor" in bad.content
    assert not Grant.objects.exists()
    good = admin_client.post(
        url,
        grant_form(
            client.pk,
            shared_account.pk,
            '[{"type": "cds_bill_statements", "statement_date_end": "P0D"}]',
        ),
    )
    assert good.status_code == 302, good.content
    grant = Grant.objects.get()
    assert grant.scope == "cds_bill_statements"
    assert grant.authorization_details[0]["statement_date_end"][:2] == "20"


@pytest.mark.django_db
def test_the_revoke_action_asks_first_then_revokes_and_records_it(
    admin_client, shared_account, make_grant
) -> None:
    grant = make_grant(["acc-a"], [{"type": "cds_usage"}])
    url = reverse("admin:cdsapi_grant_changelist")
    asked = admin_client.post(url, {"action": "revoke", "_selected_action": [grant.pk]})
    assert asked.status_code == 200 and b"cannot be undone" in asked.content
    grant.refresh_from_db()
    assert grant.status == "active"
    admin_client.post(url, {"action": "revoke", "_selected_action": [grant.pk], "confirmed": "yes"})
    grant.refresh_from_db()
    assert grant.status == "revoked"
    history = admin_client.get(reverse("admin:cdsapi_grant_history", args=[grant.pk]))
    assert b"Revoked" in history.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["admin:cdsapi_grant_changelist", "admin:cdsapi_application_changelist"]
)
def test_grant_and_client_lists_render(admin_client, make_grant, shared_account, url) -> None:
    make_grant(["acc-a"], [{"type": "cds_usage"}])
    assert admin_client.get(reverse(url)).status_code == 200


@pytest.mark.django_db
def test_a_revoked_grant_cannot_be_saved_as_active_in_the_admin(
    admin_client, shared_account, make_grant
) -> None:
    from cdsapi.grants import lifecycle

    grant = make_grant(["acc-a"], [{"type": "cds_usage"}])
    lifecycle.revoke_grant(grant)
    page = admin_client.post(
        reverse("admin:cdsapi_grant_change", args=[quote(grant.pk)]),
        grant_form(grant.client_id, shared_account.pk, '[{"type": "cds_usage"}]'),
    )
    assert page.status_code == 200
    assert b"a revoked grant stays revoked" in page.content
    grant.refresh_from_db()
    assert grant.status == "revoked"


@pytest.mark.django_db
def test_grant_ids_survive_the_admins_url_quoting_old_and_new(
    admin_client, shared_account, make_grant
) -> None:
    new = make_grant(["acc-a"], [{"type": "cds_usage"}])
    assert "_" not in new.pk and new.pk.startswith("grt-")
    from cdsapi.models import Grant

    Grant.objects.create(
        id="grt_3F_2Cab",
        client=new.client,
        scope=new.scope,
        authorization_details=new.authorization_details,
    )
    for pk in (new.pk, "grt_3F_2Cab"):
        typed = f"/admin/cdsapi/grant/{pk}/change/"  # as typed, not as the admin quotes it
        page = admin_client.get(typed)
        assert page.status_code == 200, pk
        assert pk in page.content.decode()


@pytest.mark.django_db
def test_a_client_made_in_the_admin_shows_its_secret_once(admin_client) -> None:
    from django.contrib.auth.hashers import check_password

    from cdsapi.models import Application

    page = admin_client.post(
        reverse("admin:cdsapi_application_add"),
        {
            "name": "Solar Co",
            "client_id": "solar",
            "client_type": "confidential",
            "authorization_grant_type": "authorization-code",
            "redirect_uris": "https://solar.example/cb",
            "client_uri": "https://solar.example",
            "cds_default_scope": "",
            "cds_default_authorization_details": "null",
        },
    )
    assert page.status_code == 200, page.content[:2000]
    assert "no-store" in page["Cache-Control"]
    secret = page.context["shown"][0][1]
    client = Application.objects.get(client_id="solar")
    assert check_password(secret, client.client_secret)
    assert (
        secret
        not in admin_client.get(
            reverse("admin:cdsapi_application_change", args=[client.pk])
        ).content.decode()
    )
    rotated = admin_client.post(
        reverse("admin:cdsapi_application_changelist"),
        {"action": "rotate_secret", "_selected_action": [client.pk]},
    )
    new = rotated.context["shown"][0][1]
    client.refresh_from_db()
    assert new != secret and check_password(new, client.client_secret)
    assert "Clients" in admin_client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_unused_oauth_models_are_not_in_the_admin() -> None:
    from django.contrib import admin as django_admin

    from cdsapi.models import IDToken

    assert not django_admin.site.is_registered(IDToken)


@pytest.mark.django_db
def test_an_account_page_links_what_it_connects_to(admin_client, sample_path) -> None:
    from django.core.management import call_command

    from accounts.models import Account
    from cdsapi.grants import lifecycle
    from tests.factories import ApplicationFactory

    call_command("cds_import", str(sample_path), "--no-progress")
    grant = lifecycle.create_grant(
        ApplicationFactory(), ["acc-sample-r1"], [{"type": "cds_usage_1"}]
    )
    account = Account.objects.get(cds_account_id="acc-sample-r1")
    page = admin_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for linked in ("sc-sample-r1e", "sp-sample-r1e", "md-sample-r1e", grant.pk):
        assert linked in text, linked
    assert "/admin/accounts/servicecontract/" in text and "/admin/cdsapi/grant/" in text
    assert "/admin/bills/billstatement/" in text
    assert (
        "Account ID"
        in admin_client.get(reverse("admin:accounts_account_changelist")).content.decode()
    )


@pytest.mark.django_db
def test_a_meter_page_charts_its_usage_and_a_segment_shows_a_value_table(
    admin_client, sample_path
) -> None:
    from django.core.management import call_command

    from accounts.models import MeterDevice
    from usage.models import UsageSegment

    call_command("cds_import", str(sample_path), "--no-progress")
    meter = MeterDevice.objects.get(cds_meterdevice_id="md-sample-r1e")
    page = admin_client.get(reverse("admin:accounts_meterdevice_change", args=[meter.pk]))
    assert page.status_code == 200
    assert "<svg" in page.content.decode() and "<rect" in page.content.decode()
    segment = UsageSegment.objects.filter(meter=meter).first()
    page = admin_client.get(reverse("admin:usage_usagesegment_change", args=[segment.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "elec-net-15m" in text and "<td>0.091</td>" in text
    assert "values_json" not in text


@pytest.mark.django_db
def test_the_admin_makes_a_grant_without_json_and_issues_its_token_once(
    admin_client, shared_account, api
) -> None:
    from cdsapi.models import Grant

    client = factories.ApplicationFactory()
    form = grant_form(client.pk, shared_account.pk, "", expires="P90D")
    form.update(
        {
            "use__cds_bill_statements": "on",
            "cds_bill_statements__flavor": "usage_only",
            "cds_bill_statements__statement_date_start": "P1Y",
        }
    )
    created = admin_client.post(reverse("admin:cdsapi_grant_add"), form)
    assert created.status_code == 302, created.content[:3000]
    grant = Grant.objects.get()
    [entry] = grant.authorization_details
    assert entry["type"] == "cds_bill_statements" and entry["flavor"] == "usage_only"
    assert entry["statement_date_start"][:2] == "20"
    assert grant.expires is not None
    edit = admin_client.get(reverse("admin:cdsapi_grant_change", args=[grant.pk]))
    initial = edit.context["adminform"].form.initial
    assert initial["use__cds_bill_statements"] is True
    assert initial["cds_bill_statements__flavor"] == "usage_only"
    listing = admin_client.get(reverse("admin:cdsapi_grant_changelist")).content.decode()
    assert "acc-a" in listing and "cds_bill_statements" in listing
    issued = admin_client.post(
        reverse("admin:cdsapi_grant_changelist"),
        {"action": "issue_token", "_selected_action": [grant.pk]},
    )
    assert "no-store" in issued["Cache-Control"]
    [(_, token, seconds)] = issued.context["issued"]
    assert seconds > 0
    assert api.get("bill-statements", token).status_code == 200
    nothing = grant_form(client.pk, shared_account.pk, "")
    refused = admin_client.post(reverse("admin:cdsapi_grant_add"), nothing)
    assert refused.status_code == 200 and b"tick a scope to share" in refused.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("admin:accounts_servicecontract_changelist", "Service contract ID"),
        ("admin:accounts_servicepoint_changelist", "Service point ID"),
        ("admin:accounts_meterdevice_changelist", "Meter ID"),
        ("admin:bills_billstatement_changelist", "Bill statement ID"),
        ("admin:usage_usagesegment_changelist", "Usage segment ID"),
    ],
)
def test_list_columns_have_readable_labels(admin_client, url, label) -> None:
    factories.ServiceContractFactory()
    factories.ServicePointFactory()
    factories.MeterDeviceFactory()
    factories.BillSectionFactory()
    factories.UsageSegmentFactory()
    text = admin_client.get(reverse(url)).content.decode()
    assert label in text and "Cds " not in text


@pytest.mark.django_db
def test_the_admin_shows_times_in_the_utilitys_zone(admin_client, make_grant, settings) -> None:
    from datetime import UTC, datetime

    from cdsapi.models import Grant

    factories.AccountVersionFactory(account__cds_account_id="acc-z")
    grant = make_grant(["acc-z"], [{"type": "cds_usage"}])
    Grant.objects.filter(pk=grant.pk).update(expires=datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    listing = admin_client.get(reverse("admin:cdsapi_grant_changelist")).content.decode()
    assert "4 a.m." in listing  # 12:00 UTC is 04:00 in America/Los_Angeles


# -- the grant form's relative windows, the accounts autocomplete, filters, charts ----------


def _local_today():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.conf import settings

    return datetime.now(ZoneInfo(settings.CDS_TIMEZONE)).date()


@pytest.mark.django_db
def test_a_grant_made_with_relative_windows_stores_absolute_dates(
    admin_client, shared_account
) -> None:
    from cdsapi.models import Grant

    client = factories.ApplicationFactory()
    form = grant_form(client.pk, shared_account.pk, "")
    form.update(
        {
            "use__cds_bill_statements": "on",
            # "last 12 months" from the window's choices; no JSON anywhere.
            "cds_bill_statements__statement_date_start": "P1Y",
            "cds_bill_statements__statement_date_start_date": "",
            "cds_bill_statements__statement_date_end": "custom",
            "cds_bill_statements__statement_date_end_date": "2031-01-31",
            "use__cds_usage": "on",
            "cds_usage__segment_start": "custom",
            "cds_usage__segment_start_date": "2024-07-01",
            "cds_usage__segment_start_time": "",
            "cds_usage__segment_end": "infinite",
        }
    )
    page = admin_client.get(reverse("admin:cdsapi_grant_add"))
    text = page.content.decode()
    assert '<option value="P1Y">last 12 months</option>' in text
    assert '<option value="infinite" selected>no limit</option>' in text
    assert "cdsapi/grant_form.js" in text and 'class="vDateField"' in text
    created = admin_client.post(reverse("admin:cdsapi_grant_add"), form)
    assert created.status_code == 302, created.content[:3000]
    grant = Grant.objects.get()
    bills, usage = sorted(grant.authorization_details, key=lambda e: e["type"])
    today = _local_today()
    leap_day = (today.month, today.day) == (2, 29)
    year_ago = today.replace(year=today.year - 1, day=28 if leap_day else today.day)
    assert bills["statement_date_start"] == year_ago.isoformat()
    assert bills["statement_date_end"] == "2031-01-31"
    # A custom datetime is the local midnight of its date (Los Angeles in July: UTC-7).
    assert usage["segment_start"] == "2024-07-01T07:00:00Z"
    assert usage["segment_end"] == "infinite"

    # Editing shows the stored absolute dates as custom dates, and saving keeps them.
    edit = admin_client.get(reverse("admin:cdsapi_grant_change", args=[grant.pk]))
    text = edit.content.decode()
    assert 'name="cds_bill_statements__statement_date_start_date" value="' in text
    assert f'value="{year_ago.isoformat()}"' in text
    assert 'name="cds_usage__segment_start_time" value="00:00:00"' in text
    form = edit.context["adminform"].form
    data = {}
    for name, field in form.fields.items():  # the form posted back untouched
        value = form[name].value()
        if hasattr(field.widget, "widgets_names"):
            parts = field.widget.decompress(value)
            for suffix, part in zip(field.widget.widgets_names, parts, strict=False):
                data[name + suffix] = "" if part is None else str(part)
        elif value is True:
            data[name] = "on"
        elif value not in (None, False):
            data[name] = value
    saved = admin_client.post(reverse("admin:cdsapi_grant_change", args=[grant.pk]), data)
    assert saved.status_code == 302, saved.content[:3000]
    grant.refresh_from_db()
    assert sorted(grant.authorization_details, key=lambda e: e["type"]) == [bills, usage]


@pytest.mark.django_db
def test_a_custom_window_needs_its_date(admin_client, shared_account) -> None:
    from cdsapi.models import Grant

    client = factories.ApplicationFactory()
    form = grant_form(client.pk, shared_account.pk, "")
    form.update(
        {
            "use__cds_bill_statements": "on",
            "cds_bill_statements__statement_date_start": "custom",
            "cds_bill_statements__statement_date_start_date": "",
        }
    )
    page = admin_client.post(reverse("admin:cdsapi_grant_add"), form)
    assert page.status_code == 200
    assert b"give the date (or choose a relative bound)" in page.content
    assert not Grant.objects.exists()


@pytest.fixture
def held_accounts(db):
    """Alice holds two accounts, Bob one; 25 more accounts belong to nobody."""
    alice = factories.UserFactory(username="alice", email="alice@example.com")
    bob = factories.UserFactory(username="bob", email="bob@juniper.example")
    found = {}
    for ident, number, name, holder in (
        ("acc-a1", "1000-0001", "Alice Home", alice),
        ("acc-a2", "1000-0002", "Alice Cabin", alice),
        ("acc-b1", "2000-0001", "Juniper Bakery", bob),
    ):
        version = factories.AccountVersionFactory(
            account__cds_account_id=ident, account_number=number, account_name=name
        )
        version.account.holders.add(holder)
        found[ident] = version.account
    for n in range(25):  # nothing a search below looks for (no Faker names: "Bob ...")
        factories.AccountVersionFactory(account_number=f"9000-{n:04d}", account_name=f"Lot {n}")
    return alice, bob, found


def autocomplete(admin_client, **params):
    query = {"app_label": "cdsapi", "model_name": "grant", "field_name": "accounts", **params}
    response = admin_client.get(reverse("admin:autocomplete"), query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.django_db
def test_the_accounts_autocomplete_labels_and_narrows_by_customer(
    admin_client, held_accounts
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice, bob, accounts = held_accounts
    [one] = autocomplete(admin_client, term="acc-a1")
    assert one["id"] == str(accounts["acc-a1"].pk)
    assert one["text"] == "acc-a1 · no. 1000-0001 · Alice Home · held by alice"
    assert {r["text"].split(" · ")[0] for r in autocomplete(admin_client, customer=bob.pk)} == {
        "acc-b1"
    }
    mine = autocomplete(admin_client, customer=alice.pk)
    assert {r["text"].split(" · ")[0] for r in mine} == {"acc-a1", "acc-a2"}
    assert autocomplete(admin_client, customer=bob.pk, term="Alice") == []
    assert autocomplete(admin_client, customer="x") == []
    assert autocomplete(admin_client, customer="9" * 30) == []
    # Searched by number, name, holder's username and email too.
    for term in ("2000-0001", "juniper", "bob", "juniper.example"):
        assert [r["text"][:6] for r in autocomplete(admin_client, term=term)] == ["acc-b1"]
    # One page (20 of 28 accounts) costs no more queries than a page of two.
    with CaptureQueriesContext(connection) as big:
        assert len(autocomplete(admin_client)) == 20
    with CaptureQueriesContext(connection) as small:
        assert len(autocomplete(admin_client, customer=alice.pk)) == 2
    assert len(big.captured_queries) == len(small.captured_queries) <= 8
    # Other autocompletes keep their labels: the grant form's customer is one.
    users = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "cdsapi", "model_name": "grant", "field_name": "customer", "term": "bob"},
    ).json()["results"]
    assert [u["text"] for u in users] == ["bob"]


@pytest.mark.django_db
def test_a_grants_page_shows_its_accounts_as_the_autocomplete_does(
    admin_client, held_accounts, make_grant
) -> None:
    alice, _, _ = held_accounts
    grant = make_grant(["acc-a1"], [{"type": "cds_usage"}], customer=alice)
    text = admin_client.get(reverse("admin:cdsapi_grant_change", args=[grant.pk])).content
    assert "acc-a1 · no. 1000-0001 · Alice Home · held by alice" in text.decode()


@pytest.mark.django_db
def test_the_grant_list_shows_and_filters_by_the_status_shown(
    admin_client, held_accounts, make_grant
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from cdsapi.grants import lifecycle
    from cdsapi.models import Grant

    alice, _, _ = held_accounts
    client = factories.ApplicationFactory(name="Solar Co")
    active = make_grant(["acc-a1"], [{"type": "cds_usage"}], customer=alice, client=client)
    lapsed = make_grant(["acc-b1"], [{"type": "cds_usage"}])
    Grant.objects.filter(pk=lapsed.pk).update(expires=timezone.now() - timedelta(days=1))
    revoked = make_grant(["acc-a2"], [{"type": "cds_usage"}])
    lifecycle.revoke_grant(revoked)
    dated = make_grant(["acc-a2"], [{"type": "cds_usage"}], expires=lifecycle.parse_expires("P9D"))

    def listed(**params) -> set[str]:
        page = admin_client.get(reverse("admin:cdsapi_grant_changelist"), params)
        assert page.status_code == 200
        return {g.pk for g in page.context["cl"].result_list}

    page = admin_client.get(reverse("admin:cdsapi_grant_changelist"), {"status": "expired"})
    assert '<td class="field-status_shown">expired</td>' in page.content.decode()
    assert listed(status="expired") == {lapsed.pk}
    assert listed(status="active") == {active.pk, dated.pk}
    assert listed(status="revoked") == {revoked.pk}
    assert listed(expiry="expired") == {lapsed.pk}
    assert listed(expiry="active") == {dated.pk}
    assert listed(expiry="never") == {active.pk, revoked.pk}
    assert listed(has_customer="yes") == {active.pk}
    assert listed(has_customer="no") == {lapsed.pk, revoked.pk, dated.pk}
    assert listed(client__id__exact=client.pk) == {active.pk}
    assert listed(q="acc-b1") == {lapsed.pk}
    assert listed(q="alice@example.com") == {active.pk}
    assert listed(q="Solar") == {active.pk}
    for grant in Grant.objects.all():
        assert grant.pk in listed(status=grant.shown_status())
    assert len(listed(_facets="True")) == 4  # "Show counts" counts by the filters' querysets


@pytest.mark.django_db
def test_data_lists_filter_by_a_typed_account_or_meter_id(admin_client, sample_path) -> None:
    from django.core.management import call_command

    call_command("cds_import", str(sample_path), "--no-progress")

    def count(url: str, **params) -> int:
        page = admin_client.get(reverse(url), params)
        assert page.status_code == 200, page.content[:2000]
        return page.context["cl"].result_count

    segments = "admin:usage_usagesegment_changelist"
    everything = count(segments)
    assert 0 < count(segments, account="acc-sample-r1") < everything
    assert count(segments, meter="md-sample-r1e") == count(
        segments, account="acc-sample-r1", meter="md-sample-r1e"
    )
    assert count(segments, account="acc-sample-r1", meter="md-sample-r2e") == 0
    assert count(segments, account="no-such-account") == 0
    assert count(segments, account="acc-sample-r1", _facets="True") == count(
        segments, account="acc-sample-r1"
    )
    page = admin_client.get(reverse(segments), {"account": "acc-sample-r1"})
    text = page.content.decode()
    assert "By Account ID" in text and "By Meter ID" in text
    assert 'name="account" value="acc-sample-r1"' in text
    for url in (
        "admin:bills_billstatement_changelist",
        "admin:bills_billsection_changelist",
        "admin:accounts_servicecontract_changelist",
        "admin:accounts_servicepoint_changelist",
        "admin:accounts_meterdevice_changelist",
    ):
        assert 0 < count(url, account="acc-sample-r1") < count(url), url
        assert count(url, account="nobody") == 0, url


@pytest.mark.django_db
def test_a_meter_page_charts_daily_and_monthly_totals(admin_client) -> None:
    from datetime import date
    from decimal import Decimal

    from accounts.models import MeterDevice
    from tests.usage_data import daily_segments, load_usage

    # 100 local days of 96 quarter hours of 1 kWh, from 2025-01-01 (9 March has 92).
    load_usage(daily_segments(date(2025, 1, 1), 100, Decimal(1)))
    meter = MeterDevice.objects.get(cds_meterdevice_id="md-u")
    text = admin_client.get(reverse("admin:accounts_meterdevice_change", args=[meter.pk]))
    text = text.content.decode()
    daily, monthly = text.split("Monthly usage")
    assert "Daily usage" in daily
    assert daily.count("<rect") == 90
    assert "2025-04-10: 96 kWh" in daily and "2025-03-09: 92 kWh" in daily
    assert "2025-01-11: 96 kWh" in daily and "2025-01-10:" not in daily
    assert "90 days from 2025-01-11 to 2025-04-10 (America/Los_Angeles)" in daily
    assert monthly.count("<rect") == 4
    for month, total in (("01", 31 * 96), ("02", 28 * 96), ("03", 31 * 96 - 4), ("04", 960)):
        assert f"2025-{month}: {total} kWh" in monthly
    assert "24 months from 2023-05 to 2025-04" in monthly


def _every_model_has_a_row(make_grant, api) -> None:
    """A row of every model the admin shows, made as the system makes them."""
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone

    from cdsapi.grants import lifecycle
    from cdsapi.models import AuthorizationCode, DirectAccess, RefreshToken
    from consent.models import Receipt
    from tests.conftest import FIXTURES

    call_command("cds_import", str(FIXTURES / "sample.json"), "--no-progress")
    customer = get_user_model().objects.get(username="alice")
    grant = make_grant(["acc-sample-r1"], [{"type": "cds_usage"}], customer=customer)
    token, _ = lifecycle.issue_token(grant)
    assert api.get("usage-segments", token).status_code == 200  # an access log row
    Group.objects.create(name="operators")
    DirectAccess.objects.create(client=factories.ApplicationFactory(), scope="")
    AuthorizationCode.objects.create(
        user=customer,
        code="c0de",
        application=grant.client,
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri="https://solar.example/cb",
        scope="cds_usage",
        cds_grant=grant,
    )
    RefreshToken.objects.create(
        user=customer, token="r3fresh", application=grant.client, cds_grant=grant
    )
    Receipt.objects.create(grant=grant, client_name=grant.client.name, scope=grant.scope)


def _registered() -> list[str]:
    from django.contrib import admin as django_admin

    return sorted(model._meta.label for model in django_admin.site._registry)


@pytest.mark.django_db
@pytest.mark.parametrize("label", _registered())
def test_every_admin_page_renders(admin_client, make_grant, api, label) -> None:
    from django.apps import apps
    from django.contrib import admin as django_admin

    _every_model_has_a_row(make_grant, api)
    model = apps.get_model(label)
    model_admin = django_admin.site._registry[model]
    info = (model._meta.app_label, model._meta.model_name)
    listing = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
    assert listing.status_code == 200
    row = model._default_manager.first()
    assert row is not None, label
    change = admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[quote(row.pk)]))
    assert change.status_code == 200
    add = admin_client.get(reverse("admin:{}_{}_add".format(*info)))
    request = listing.wsgi_request
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)
    # Labels read as words, never as raw field names ("Cds account id").
    for page in (listing, change):
        assert "Cds " not in page.content.decode(), label
