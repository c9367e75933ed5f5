"""factory-boy factories for every model, producing valid CDS objects with exact decimals."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from accounts.models import (
    Account,
    AccountSearchText,
    AccountVersion,
    MeterDevice,
    ServiceContract,
    ServicePoint,
)
from bills.models import BillSection, BillStatement
from cdsapi import exactjson
from cdsapi.models import Application
from usage.models import UsageSegment

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class CdsMetadataFactory(factory.django.DjangoModelFactory):
    cds_created = T0
    cds_modified = T0
    cds_synced = T0


class UserFactory(factory.django.DjangoModelFactory):
    username = factory.Sequence(lambda n: f"customer{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    class Meta:
        model = get_user_model()


class AccountFactory(factory.django.DjangoModelFactory):
    cds_account_id = factory.Sequence(lambda n: f"acc-{n:04d}")
    cds_synced = T0

    class Meta:
        model = Account


class AccountVersionFactory(factory.django.DjangoModelFactory):
    account = factory.SubFactory(AccountFactory)
    cds_created = T0
    cds_modified = T0
    cds_synced = T0
    customer_number = factory.Sequence(lambda n: f"CUST-{n:04d}")
    account_number = factory.Sequence(lambda n: f"1000-{n:04d}")
    account_name = factory.Faker("name")
    account_address = factory.Faker("address")
    account_types = ["customer", "residential"]
    account_status = "active"
    account_contacts = factory.LazyAttribute(
        lambda v: [{"id": f"ct-{v.account_number}", "types": ["email"], "value": "a@example.com"}]
    )
    account_programs = []

    class Meta:
        model = AccountVersion
        skip_postgeneration_save = True

    @factory.post_generation
    def searchable(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            AccountSearchText.rebuild(AccountVersion.objects.filter(pk=self.pk))


class ServiceContractFactory(CdsMetadataFactory):
    cds_servicecontract_id = factory.Sequence(lambda n: f"sc-{n:04d}")
    account = factory.SubFactory(AccountFactory)
    contract_number = factory.Sequence(lambda n: f"SA-{n:04d}")
    contract_types = ["utility_service"]
    contract_status = "active"
    service_types = ["electric"]

    class Meta:
        model = ServiceContract


class ServicePointFactory(CdsMetadataFactory):
    cds_servicepoint_id = factory.Sequence(lambda n: f"sp-{n:04d}")
    servicepoint_number = factory.Sequence(lambda n: f"SP-{n:04d}")
    servicepoint_types = ["electric", "physical"]
    latitude = Decimal("45.50")
    longitude = Decimal("-122.60")

    class Meta:
        model = ServicePoint


class MeterDeviceFactory(CdsMetadataFactory):
    cds_meterdevice_id = factory.Sequence(lambda n: f"md-{n:04d}")
    meter_number = factory.Sequence(lambda n: f"M-{n:04d}")
    meter_types = ["electric_usage", "ami_meter"]

    class Meta:
        model = MeterDevice


class BillStatementFactory(CdsMetadataFactory):
    cds_billstatement_id = factory.Sequence(lambda n: f"bst-{n:04d}")
    account = factory.SubFactory(AccountFactory)
    statement_date = date(2025, 1, 5)
    currency = "USD"
    previous_balance_unpaid = Decimal("0.00")
    new_charges_amount = Decimal("42.10")
    new_charges = [
        {
            "id": "nc-1",
            "name": "Electric",
            "types": ["electric_total"],
            "amount": Decimal("42.10"),
            "included_in_amount_due": True,
        }
    ]
    new_balance_amount = Decimal("42.10")
    amount_due = Decimal("42.10")
    amount_due_date = date(2025, 1, 26)

    class Meta:
        model = BillStatement


class BillSectionFactory(CdsMetadataFactory):
    cds_billsection_id = factory.Sequence(lambda n: f"bsec-{n:04d}")
    statement = factory.SubFactory(BillStatementFactory)
    account = factory.SelfAttribute("statement.account")
    section_types = ["service_contract", "electric"]
    start_date = date(2024, 12, 1)
    end_date = date(2024, 12, 31)
    currency = "USD"
    usage_details = [
        {
            "id": "ud-1",
            "name": "Total kWh",
            "types": ["electric_usage"],
            "value": Decimal("312.400"),
            "units": "kWh",
        }
    ]
    cost_details = [
        {"id": "cd-1", "name": "Total", "types": ["overall_total"], "cost": Decimal("42.10")}
    ]
    line_items = [
        {
            "id": "li-1",
            "name": "Energy",
            "types": ["usage_charge"],
            "start_date": "2024-12-01",
            "end_date": "2024-12-31",
            "cost": Decimal("42.10"),
            "value": Decimal("312.400"),
            "units": "kWh",
            "rate": Decimal("0.1348"),
            "related_usage_details": ["ud-1"],
            "related_cost_details": ["cd-1"],
        }
    ]

    class Meta:
        model = BillSection


class UsageSegmentFactory(CdsMetadataFactory):
    """A day of 15-minute forward kWh values, 0.001 * (i + 1) each."""

    class Params:
        count = 96

    cds_usagesegment_id = factory.Sequence(lambda n: f"us-{n:05d}")
    account = factory.SubFactory(AccountFactory)
    meter = factory.SubFactory(MeterDeviceFactory)
    segment_start = T0
    segment_end = factory.LazyAttribute(
        lambda s: s.segment_start + timedelta(seconds=900 * s.count)
    )
    interval = Decimal("900")
    formats_json = exactjson.dumps(
        [{"id": "elec-15m", "type": "electric_usage", "units": "kWh", "direction": "forward"}]
    )
    values_json = factory.LazyAttribute(
        lambda s: exactjson.dumps([[{"eu": Decimal(i + 1).scaleb(-3)}] for i in range(s.count)])
    )
    related_json = factory.LazyAttribute(
        lambda s: exactjson.dumps({"related_accounts": [s.account.cds_account_id]})
    )

    class Meta:
        model = UsageSegment


class ApplicationFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"Recipient {n}")
    client_id = factory.Sequence(lambda n: f"client-{n}")
    client_secret = "s3cret-s3cret-s3cret"
    client_type = "confidential"
    authorization_grant_type = "client-credentials"

    class Meta:
        model = Application
