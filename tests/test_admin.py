"""The admin shows the imported data and its account history, and refuses edits."""

import pytest
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
