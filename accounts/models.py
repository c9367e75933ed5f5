"""Accounts (with their version history), service contracts, service points and meters.

An account is served "as it was" at a grant's ``sync_date_end``, so its data lives in
``AccountVersion`` rows keyed by the source's ``cds_modified``; ``Account`` holds only what
never changes (its id and creation time) plus the last confirmation from the source.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Subquery

from accounts.search import texts
from cdsapi import enums
from cdsapi.fields import ExactDecimalField, ExactJSONField
from cdsapi.models import CdsObject


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class Account(models.Model):
    cds_account_id = models.CharField(max_length=128, unique=True)
    cds_synced = models.DateTimeField(help_text="The source's last confirmation of the account.")
    holders = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="cds_accounts",
        blank=True,
        help_text="Customers (users) who hold this account and may consent to share it.",
    )

    class Meta:
        ordering = ["cds_account_id"]

    def __str__(self) -> str:
        return self.cds_account_id

    @property
    def latest_version(self) -> "AccountVersion | None":
        return self.versions.order_by("-cds_modified").first()


# The optional fields of an account, which a grant shows or hides one by one.
ACCOUNT_FIELDS = (
    "customer_number",
    "account_number",
    "account_entity",
    "account_name",
    "account_address",
    "account_types",
    "account_status",
    "account_contacts",
    "account_programs",
)


class AccountVersionQuerySet(models.QuerySet):
    def as_of(self, instant: datetime | None) -> "AccountVersionQuerySet":
        """For each account, the last version modified at or before ``instant`` (None = latest).

        Accounts with no version by then (created later) drop out. This is a single SQL query
        with a correlated subquery, so it can be filtered and paged like any queryset.
        """
        candidates = AccountVersion.objects.filter(account=OuterRef("account"))
        if instant is not None:
            candidates = candidates.filter(cds_modified__lte=instant)
        latest = candidates.order_by("-cds_modified").values("pk")[:1]
        return self.filter(pk=Subquery(latest))


class AccountVersion(models.Model):
    """One state of an account, as the source reported it at ``cds_modified``."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="versions")
    cds_created = models.DateTimeField()
    cds_modified = models.DateTimeField()
    cds_synced = models.DateTimeField(help_text="The source's last confirmation of this version.")
    parent = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="cds_account_parent",
    )
    customer_number = models.CharField(max_length=128, null=True, blank=True)
    account_number = models.CharField(max_length=128, null=True, blank=True)
    account_entity = ExactJSONField(null=True, blank=True)
    account_name = models.CharField(max_length=255, null=True, blank=True)
    account_address = models.TextField(null=True, blank=True)
    account_types = ExactJSONField(null=True, blank=True)
    account_status = models.CharField(
        max_length=16, choices=_choices(enums.ACCOUNT_STATUSES), null=True, blank=True
    )
    account_contacts = ExactJSONField(null=True, blank=True)
    account_programs = ExactJSONField(null=True, blank=True)

    objects = AccountVersionQuerySet.as_manager()

    class Meta:
        ordering = ["account", "-cds_modified"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "cds_modified"], name="account_version_unique_modified"
            )
        ]
        indexes = [models.Index(fields=["account_number"])]

    def __str__(self) -> str:
        return f"{self.account_id} @ {self.cds_modified.isoformat()}"


class AccountSearchText(models.Model):
    """One searchable field of an account version, as ``q`` matches it (see
    ``accounts.search``): its values only, folded alike on every database."""

    version = models.ForeignKey(
        AccountVersion, on_delete=models.CASCADE, related_name="search_texts"
    )
    field = models.CharField(max_length=32)
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "field"], name="account_search_unique")
        ]

    def __str__(self) -> str:
        return f"{self.version_id}.{self.field}"

    @classmethod
    def rebuild(cls, versions: models.QuerySet[AccountVersion]) -> None:
        """Replace the search texts of ``versions`` with their current values."""
        versions = list(versions.select_related("account"))
        cls.objects.filter(version__in=versions).delete()
        cls.objects.bulk_create(
            [
                cls(version=version, field=name, text=text)
                for version in versions
                for name, text in texts(version.account.cds_account_id, version).items()
            ],
            batch_size=500,
        )


class ServiceContract(CdsObject):
    cds_servicecontract_id = models.CharField(max_length=128, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="contracts")
    contract_number = models.CharField(max_length=128, null=True, blank=True)
    contract_address = models.TextField(null=True, blank=True)
    contract_types = ExactJSONField(default=list)
    contract_entity = ExactJSONField(null=True, blank=True)
    contract_status = models.CharField(max_length=16, choices=_choices(enums.CONTRACT_STATUSES))
    contract_start = models.DateField(null=True, blank=True)
    contract_end = models.DateField(null=True, blank=True)
    service_types = ExactJSONField(default=list)
    rateplan_code = models.CharField(max_length=128, null=True, blank=True)
    rateplan_name = models.CharField(max_length=255, null=True, blank=True)
    service_programs = ExactJSONField(null=True, blank=True)

    class Meta:
        ordering = ["cds_servicecontract_id"]

    def __str__(self) -> str:
        return self.cds_servicecontract_id


class ServicePoint(CdsObject):
    cds_servicepoint_id = models.CharField(max_length=128, unique=True)
    servicepoint_number = models.CharField(max_length=128, null=True, blank=True)
    servicepoint_types = ExactJSONField(default=list)
    servicepoint_address = models.TextField(null=True, blank=True)
    latitude = ExactDecimalField(null=True, blank=True)
    longitude = ExactDecimalField(null=True, blank=True)
    current_servicecontracts = models.ManyToManyField(
        ServiceContract, related_name="current_servicepoints", blank=True
    )
    previous_servicecontracts = models.ManyToManyField(
        ServiceContract, related_name="previous_servicepoints", blank=True
    )
    premises = ExactJSONField(null=True, blank=True)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="IANA timezone of this service point; empty = the CDS_TIMEZONE setting. "
        "Calendar days and months of usage aggregates are counted in it.",
    )

    class Meta:
        ordering = ["cds_servicepoint_id"]

    def __str__(self) -> str:
        return self.cds_servicepoint_id


class MeterDevice(CdsObject):
    cds_meterdevice_id = models.CharField(max_length=128, unique=True)
    meter_number = models.CharField(max_length=128, null=True, blank=True)
    meter_types = ExactJSONField(default=list)
    current_servicepoints = models.ManyToManyField(
        ServicePoint, related_name="current_meterdevices", blank=True
    )
    previous_servicepoints = models.ManyToManyField(
        ServicePoint, related_name="previous_meterdevices", blank=True
    )
    meter_apps = ExactJSONField(null=True, blank=True)

    class Meta:
        ordering = ["cds_meterdevice_id"]

    def __str__(self) -> str:
        return self.cds_meterdevice_id
