"""The data model: factories build valid objects; accounts are served as of an instant."""

from datetime import timedelta

import pytest

from accounts.models import AccountVersion
from tests import factories
from tests.factories import T0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "factory",
    [
        factories.UserFactory,
        factories.AccountFactory,
        factories.AccountVersionFactory,
        factories.ServiceContractFactory,
        factories.ServicePointFactory,
        factories.MeterDeviceFactory,
        factories.BillStatementFactory,
        factories.BillSectionFactory,
        factories.UsageSegmentFactory,
    ],
)
def test_every_factory_builds_a_valid_object(factory: type) -> None:
    obj = factory()
    obj.full_clean(exclude=["password"])


@pytest.mark.django_db
def test_as_of_serves_the_last_version_on_or_before_the_instant() -> None:
    old = factories.AccountVersionFactory(account_name="Old", cds_modified=T0)
    new = factories.AccountVersionFactory(
        account=old.account, account_name="New", cds_modified=T0 + timedelta(days=10)
    )
    versions = AccountVersion.objects.filter(account=old.account)
    assert list(versions.as_of(T0 + timedelta(days=9))) == [old]
    assert list(versions.as_of(T0 + timedelta(days=10))) == [new]
    assert list(versions.as_of(None)) == [new]


@pytest.mark.django_db
def test_as_of_hides_accounts_created_after_the_instant() -> None:
    factories.AccountVersionFactory(cds_modified=T0 + timedelta(days=1))
    assert not AccountVersion.objects.as_of(T0).exists()


@pytest.mark.django_db
def test_usage_segment_values_decode_to_exact_decimals() -> None:
    segment = factories.UsageSegmentFactory(count=4)
    assert [str(v[0]["eu"]) for v in segment.values] == ["0.001", "0.002", "0.003", "0.004"]
