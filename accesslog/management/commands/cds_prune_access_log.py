"""Delete access log rows older than the retention (``CDS_ACCESS_LOG_DAYS``), in batches, and
the rate limits' ended counter windows."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accesslog.models import AccessLogEntry, ThrottleCounter


class Command(BaseCommand):
    help = (
        "Delete access log rows older than CDS_ACCESS_LOG_DAYS days (or --days N), and "
        "ended rate-limit windows."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="retention in days")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.CDS_ACCESS_LOG_DAYS
        if days < 0:
            raise CommandError("--days must be 0 or more")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more")
        now = timezone.now()
        cutoff = now - timedelta(days=days)
        old = AccessLogEntry.objects.filter(time__lt=cutoff)
        # Rate-limit windows that have ended (cdsapi.api.throttling, without a shared cache).
        ended = ThrottleCounter.objects.filter(window_end__lt=int(now.timestamp()))
        if options["dry_run"]:
            count = old.count()
            self.stdout.write(
                f"{count} access log rows older than {days} days (before "
                f"{cutoff:%Y-%m-%dT%H:%M:%SZ}) would be deleted (dry run)"
            )
            self.stdout.write(f"{ended.count()} ended rate-limit windows would be deleted")
            return
        windows = ended.delete()[0]
        deleted = 0
        while True:
            batch = list(old.order_by("pk").values_list("pk", flat=True)[: options["batch_size"]])
            if not batch:
                break
            deleted += AccessLogEntry.objects.filter(pk__in=batch).delete()[0]
        self.stdout.write(
            f"deleted {deleted} access log rows older than {days} days "
            f"(before {cutoff:%Y-%m-%dT%H:%M:%SZ})"
        )
        self.stdout.write(f"deleted {windows} ended rate-limit windows")
