"""``manage.py cds_client create --name NAME [--client-id ID]``: register a data recipient."""

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdsapi.management.options import refuse_control_characters
from cdsapi.models import Application


class Command(BaseCommand):
    help = "Create an OAuth client (data recipient). Prints its client_id and client_secret."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a confidential client.")
        create.add_argument("--name", required=True)
        create.add_argument("--client-id", help="Default: a random id.")
        actions.add_parser("list", help="List clients as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        if options["action"] == "list":
            clients = [
                {"client_id": c.client_id, "name": c.name}
                for c in Application.objects.order_by("name")
            ]
            self.stdout.write(json.dumps(clients, indent=2))
            return
        client_id = options["client_id"] or secrets.token_urlsafe(18)
        if Application.objects.filter(client_id=client_id).exists():
            raise CommandError(f"a client with client_id {client_id!r} already exists")
        secret = secrets.token_urlsafe(36)
        Application.objects.create(
            name=options["name"],
            client_id=client_id,
            client_secret=secret,  # stored hashed; shown once, here
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
        self.stdout.write(
            json.dumps(
                {"client_id": client_id, "client_secret": secret, "name": options["name"]}, indent=2
            )
        )
