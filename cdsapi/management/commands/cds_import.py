"""``manage.py cds_import FILE.json``: load a CDS document, all of it or nothing."""

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from accounts.models import Account
from cdsapi.importer.errors import DEFAULT_MAX_ERRORS, DocumentError
from cdsapi.importer.loader import KINDS, load_document, object_count, parse_document
from cdsapi.management.options import refuse_control_characters


class Command(BaseCommand):
    help = (
        "Load accounts, service contracts, service points, meters, bills, usage segments and "
        "customers from a JSON document (CDS object formats). Objects are upserted by their "
        "cds_*_id; a bad document is rejected whole, with the JSON path and reason of each error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the JSON document, or - for standard input.")
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

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        source = options["file"]
        try:
            text = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror}") from None
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        _require_tables()
        try:
            max_errors = options["max_errors"]
            doc = parse_document(text, max_errors=max_errors)
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
