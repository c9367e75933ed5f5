"""Usage segments (CDS-WG3-01 §10.8): interval data, the bulk of what this server stores.

A segment is one row. Its ``values`` are kept as the exact JSON text of the value-set array
(decimal literals untouched), so a page of intervals is served by splicing stored text into
the response instead of decoding and re-encoding tens of thousands of decimals; its formats
and reference arrays are JSON text too, decoded once per distinct text. See
``docs/usage-storage.md`` for why.
"""

from django.db import models

from accounts.models import Account, MeterDevice
from cdsapi import exactjson
from cdsapi.fields import ExactDecimalField
from cdsapi.models import CdsObject

RELATED_ARRAYS = (
    "related_aggregations",
    "related_accounts",
    "related_servicecontracts",
    "related_servicepoints",
    "related_meterdevices",
    "related_billsections",
)


class UsageSegment(CdsObject):
    cds_usagesegment_id = models.CharField(max_length=128, unique=True)
    # No single-column indexes on the two links: the (link, segment_start) indexes below serve
    # every lookup, and a plain one tempts PostgreSQL into filtering a meter's whole history.
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="usage_segments",
        db_index=False,
        help_text="The account whose service this data measures (internal link).",
    )
    meter = models.ForeignKey(
        MeterDevice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_segments",
        db_index=False,
        help_text="The meter that recorded this data, if any (internal link).",
    )
    segment_start = models.DateTimeField()
    segment_end = models.DateTimeField()
    interval = ExactDecimalField(help_text="Seconds covered by each value set.")
    formats_json = models.TextField(default="[]", help_text="The value formats as exact JSON text.")
    values_json = models.TextField(
        help_text="The value sets as exact JSON text: a list of lists of value objects or null."
    )
    totals_json = models.TextField(
        default="[]",
        help_text="Per format: [sum or peak, count] of the non-null values as exact JSON, or "
        "null where a format does not aggregate. Lets aggregates skip the value sets.",
    )
    related_json = models.TextField(
        default="{}",
        help_text="The six related_* id arrays as one JSON object. Segments of one meter "
        "share the same text, so serving decodes it once per page.",
    )

    class Meta:
        ordering = ["account", "segment_start", "-cds_modified", "cds_usagesegment_id"]
        indexes = [
            models.Index(fields=["account", "segment_start"]),
            models.Index(fields=["meter", "segment_start"]),
        ]

    def __str__(self) -> str:
        return self.cds_usagesegment_id

    @property
    def values(self) -> list:
        """The value sets decoded, with every decimal an exact ``Decimal``."""
        return exactjson.loads(self.values_json)

    @property
    def formats(self) -> list[dict]:
        return exactjson.loads(self.formats_json)

    @property
    def related(self) -> dict[str, list[str]]:
        return exactjson.loads(self.related_json)


class UsageSeries(models.Model):
    """One account's stream of segments from one meter (or from no meter), summarised.

    Kept up to date by the import. Window queries use ``max_segment_seconds`` as the lower
    bound on ``segment_start`` (so they read only the rows near the window), and aggregates
    use ``timezone`` for calendar periods.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_series")
    meter = models.ForeignKey(
        MeterDevice, on_delete=models.CASCADE, null=True, blank=True, related_name="usage_series"
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The meter's service point timezone; empty = the CDS_TIMEZONE setting.",
    )
    first_start = models.DateTimeField()
    last_end = models.DateTimeField()
    max_segment_seconds = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "meter"], name="usage_series_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.meter_id}"
