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
def test_the_revoke_action_revokes(admin_client, shared_account, make_grant) -> None:
    grant = make_grant(["acc-a"], [{"type": "cds_usage"}])
    admin_client.post(
        reverse("admin:cdsapi_grant_changelist"),
        {"action": "revoke", "_selected_action": [grant.pk]},
    )
    grant.refresh_from_db()
    assert grant.status == "revoked"


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
    grant = lifecycle.create_grant(ApplicationFactory(), ["acc-r1"], [{"type": "cds_usage_1"}])
    account = Account.objects.get(cds_account_id="acc-r1")
    page = admin_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for linked in ("sc-r1e", "sp-r1e", "md-r1e", grant.pk):
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
    meter = MeterDevice.objects.get(cds_meterdevice_id="md-r1e")
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
