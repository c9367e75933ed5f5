"""``manage.py cds_demo_data --out PATH``: write the deterministic demo document."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cdsapi import exactjson
from cdsapi.demo.data import DEMO_END, build_demo

# Fixed so that the document is the same on every machine and every day.


class Command(BaseCommand):
    help = (
        "Write the demo data set (Cascade Valley Power & Gas) as an import document: 3 customers, "
        "6 accounts, 36 months of bills, two years of interval data. --small writes the sample "
        "kept in fixtures/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="Where to write the JSON document.")
        parser.add_argument(
            "--small",
            action="store_true",
            help="3 days of interval data and 2 months of bills (the committed sample).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["small"]:
            # Ids of its own (acc-sample-r1): importing it into the demo's database adds to
            # the demo's data, never rewrites it.
            doc = build_demo(DEMO_END, usage_days=3, bill_months=2, id_tag="sample-")
            text = exactjson.dumps(doc, indent=1, separators=(",", ": "))
        else:
            doc = build_demo(DEMO_END, usage_days=730, bill_months=36)
            text = exactjson.dumps(doc)
        Path(options["out"]).write_text(text + "\n", encoding="utf-8")
        counts = ", ".join(f"{len(v)} {k}" for k, v in doc.items())
        self.stdout.write(f"Wrote {options['out']}: {counts}")
