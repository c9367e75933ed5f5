"""``manage.py cds_import FILE.json``: load a CDS document, all of it or nothing."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cdsapi.importer.errors import DocumentError
from cdsapi.importer.loader import KINDS, load_document, object_count, parse_document
from cdsapi.management.options import refuse_control_characters


class Command(BaseCommand):
    help = (
        "Load accounts, service contracts, service points, meters, bills, usage segments and "
        "customers from a JSON document (CDS object formats). Objects are upserted by their "
        "cds_*_id; a bad document is rejected whole with the JSON path of the first error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the JSON document, or - for standard input.")
        parser.add_argument("--no-progress", action="store_true", help="Never show a progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        source = options["file"]
        try:
            text = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror}") from None
        show_bar = not options["no_progress"] and sys.stderr.isatty()
        try:
            doc = parse_document(text)
            with tqdm(
                total=object_count(doc), disable=not show_bar, unit="obj", desc="Importing"
            ) as bar:
                result = load_document(doc, bar.update)
        except DocumentError as exc:
            raise CommandError(f"{source}: {exc}") from None
        for kind in KINDS:
            counts = result.counts[kind]
            if counts.created or counts.updated or counts.unchanged:
                self.stdout.write(
                    f"{kind}: {counts.created} created, {counts.updated} updated, "
                    f"{counts.unchanged} unchanged"
                )
        if not result.changed:
            self.stdout.write("Nothing changed.")
