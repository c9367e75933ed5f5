from django.db import models


class AccessLogEntry(models.Model):
    """One Customer Data API request. No foreign keys: the row may live in a database of its
    own (``accesslog.router``), and it must outlive the client, grant and accounts it names."""

    time = models.DateTimeField(db_index=True, help_text="When the request arrived (UTC).")
    client_id = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="OAuth client_id; blank if none."
    )
    grant_id = models.CharField(max_length=32, blank=True, db_index=True)
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=100, db_index=True)
    query = models.TextField(blank=True, help_text="The query string, access_token removed.")
    status = models.PositiveSmallIntegerField(db_index=True)
    rows = models.PositiveIntegerField(help_text="Items on the page served; 0 on errors.")
    duration_ms = models.FloatField()
    request_id = models.CharField(max_length=128, db_index=True)
    accounts = models.TextField(
        blank=True,
        help_text="cds_account_ids of the grant's selected accounts (space-separated), "
        "on successful responses only.",
    )
    staff_user = models.CharField(
        max_length=150,
        blank=True,
        help_text="The staff user who previewed, for admin previews; blank for client requests",
    )

    class Meta:
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        ordering = ["-time", "-id"]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.endpoint} {self.status}"


class ThrottleCounter(models.Model):
    """One fixed window of a rate limit (``cdsapi.api.throttling``), when no shared cache is
    configured: every worker adds to the same row with one atomic upsert. In the access
    log's database, so counting never waits behind an import; ``cds_prune_access_log``
    deletes windows that have ended."""

    key = models.CharField(max_length=200, help_text="What is counted, e.g. client:<id>:60.")
    window_start = models.BigIntegerField(help_text="Start of the window (Unix seconds).")
    window_end = models.BigIntegerField(
        db_index=True, help_text="End of the window (Unix seconds)."
    )
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "window_start"], name="accesslog_throttle_key_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} @{self.window_start}: {self.count}"
