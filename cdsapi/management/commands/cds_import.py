"""``manage.py cds_import FILE``: load a CDS JSON document or a Green Button (ESPI) XML feed,
all of it or nothing."""

import argparse
import gc
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from accounts.models import Account
from cdsapi.importer import espi
from cdsapi.importer.errors import DEFAULT_MAX_ERRORS, DocumentError
from cdsapi.importer.loader import KINDS, load_document, object_count, read_document
from cdsapi.management.options import refuse_control_characters


class Command(BaseCommand):
    help = (
        "Load accounts, service contracts, service points, meters, bills, usage segments and "
        "customers from a JSON document (CDS object formats), or usage points, meter readings "
        "and usage summaries from a Green Button (ESPI) XML feed. Objects are upserted by their "
        "cds_*_id; a bad document is rejected whole, with the path and reason of each error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="Path of the JSON document or ESPI feed, or - for standard input."
        )
        parser.add_argument(
            "--format",
            choices=("json", "espi"),
            default=None,
            help="json (CDS document) or espi (Green Button XML); default: by content "
            "(a first non-space byte '<' is XML).",
        )
        parser.add_argument(
            "--account",
            metavar="ID",
            default=None,
            help="ESPI only: attach the feed's usage points to this existing cds_account_id "
            "(required when the feed has no CustomerAccount).",
        )
        parser.add_argument(
            "--timezone",
            metavar="IANA",
            default=None,
            help="ESPI only: the service points' timezone when the feed has no "
            "LocalTimeParameters, or when they match no known zone (e.g. America/Chicago).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Never show a progress bar.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the document and count what would change, then write nothing.",
        )
        parser.add_argument(
            "--max-errors",
            type=_positive_int,
            default=DEFAULT_MAX_ERRORS,
            metavar="N",
            help=f"Report at most N errors of a bad document (default {DEFAULT_MAX_ERRORS}).",
        )

    def _read(self, stream: Any, source: str, options: dict[str, Any]) -> tuple[Any, list[str]]:
        """The validated document, and notes on what an ESPI feed had that was skipped."""
        head = stream.read(65536)
        stream.seek(0)
        fmt = options["format"] or ("espi" if espi.sniff_xml(head) else "json")
        if fmt == "json" and (options["account"] or options["timezone"]):
            raise CommandError("--account and --timezone apply to Green Button (ESPI) feeds only")
        zone = options["timezone"]
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise CommandError(f"--timezone: unknown IANA timezone {zone!r}") from None
        _require_tables()
        if (
            options["account"]
            and not Account.objects.filter(cds_account_id=options["account"]).exists()
        ):
            raise CommandError(f"--account: no account {options['account']!r}")
        try:
            if fmt == "json":
                # Read incrementally: the file is read again, object by object, to load it.
                return read_document(stream, max_errors=options["max_errors"]), []
            return espi.parse_feed(
                stream,
                account=options["account"],
                timezone=zone,
                max_errors=options["max_errors"],
            )
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror}") from None
        except DocumentError as exc:
            raise CommandError(f"{source}: {exc}") from None

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        # What the process holds so far outlives the import: the garbage collector need not
        # look at it again each time the import's millions of new objects trigger it (and
        # looks again afterwards, for a process that goes on, as a test run does).
        gc.freeze()
        try:
            self._import(options)
        finally:
            gc.unfreeze()

    def _import(self, options: dict[str, Any]) -> None:
        source = options["file"]
        try:
            if source == "-":
                # Spooled to a file: a document is read more than once, and never whole.
                stream = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
                shutil.copyfileobj(sys.stdin.buffer, stream, 1 << 20)
                stream.seek(0)
            else:
                stream = Path(source).open("rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror}") from None
        with stream:  # open until loaded: a JSON document is read again while loading
            doc, notes = self._read(stream, source, options)
            for note in notes:
                self.stderr.write(f"{source}: {note}")
            result = self._load(doc, source, options)
        for kind in KINDS:
            counts = result.counts[kind]
            if counts.created or counts.updated or counts.unchanged:
                # An account is imported as a new version of its history.
                label = "account versions" if kind == "accounts" else kind
                self.stdout.write(
                    f"{label}: {counts.created} created, {counts.updated} updated, "
                    f"{counts.unchanged} unchanged"
                )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
        elif not result.changed:
            self.stdout.write("Nothing changed.")

    def _load(self, doc: Any, source: str, options: dict[str, Any]) -> Any:
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        try:
            max_errors = options["max_errors"]
            with (
                tqdm(
                    total=object_count(doc), disable=not show_bar, unit="obj", desc="Importing"
                ) as bar,
                transaction.atomic(),
            ):
                result = load_document(doc, bar.update, max_errors=max_errors)
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except DocumentError as exc:
            raise CommandError(f"{source}: {exc}") from None
        return result


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _require_tables() -> None:
    """A database that was never migrated gets a sentence, not a traceback."""
    if Account._meta.db_table not in connection.introspection.table_names():
        raise CommandError("the database has no tables yet; run `manage.py migrate` first")
