"""``manage.py cds_scopes``: the scopes this server offers, as upstream Scope Descriptions."""

import json
from typing import Any

from django.core.management.base import BaseCommand

from cdsapi.grants import scopes


class Command(BaseCommand):
    help = (
        "Print the scope registry as JSON: an object keyed by scope id, each an upstream "
        "Scope Description (CDS-WG1-02 §3.4), as metadata serves it in cds_scope_descriptions."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(scopes.as_json(), indent=2))
