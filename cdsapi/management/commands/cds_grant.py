"""``manage.py cds_grant create|revoke|list``: server-created grants from the command line.

Validation is the same as in the admin and at the OAuth endpoints (``cdsapi.grants``).
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdsapi.grants import lifecycle
from cdsapi.grants.details import InvalidAuthorizationDetails
from cdsapi.management.options import refuse_control_characters
from cdsapi.models import Application, Grant


class Command(BaseCommand):
    help = "Create, revoke and list grants. Output is JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{create,revoke,list}"
        )
        create = actions.add_parser("create", help="Create a grant for a client.")
        create.add_argument("--client-id", required=True, help="The client the grant is for.")
        create.add_argument(
            "--accounts", required=True, help="Comma-separated cds_account_ids to share."
        )
        create.add_argument(
            "--authorization-details",
            required=True,
            help="JSON array of RFC 9396 authorization_details entries.",
        )
        create.add_argument("--scope", help="Space-separated; default: the entries' types.")
        create.add_argument("--expires", help="RFC 3339 datetime, a duration (P90D) or never.")
        create.add_argument(
            "--issue-token",
            action="store_true",
            help="Also issue an access token bound to the grant.",
        )
        revoke = actions.add_parser("revoke", help="Revoke a grant; its tokens stop working.")
        revoke.add_argument("grant_id", help="The grant's id (grt-...).")
        listing = actions.add_parser("list", help="List grants.")
        listing.add_argument("--client-id", help="Only this client's grants.")

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        client = Application.objects.filter(client_id=options["client_id"]).first()
        if client is None:
            raise CommandError(f"no client with client_id {options['client_id']!r}")
        try:
            grant = lifecycle.create_grant(
                client,
                [a.strip() for a in options["accounts"].split(",") if a.strip()],
                options["authorization_details"],
                scope=options["scope"],
                expires=lifecycle.parse_expires(options["expires"]),
            )
        except InvalidAuthorizationDetails as exc:
            raise CommandError(f"invalid_authorization_details: {exc}") from None
        except lifecycle.GrantError as exc:
            raise CommandError(str(exc)) from None
        output = lifecycle.describe(grant)
        if options["issue_token"]:
            output["access_token"], output["expires_in"] = lifecycle.issue_token(grant)
            output["token_type"] = "Bearer"
        self.stdout.write(json.dumps(output, indent=2))

    def _revoke(self, options: dict[str, Any]) -> None:
        grant = Grant.objects.filter(pk=options["grant_id"]).first()
        if grant is None:
            raise CommandError(f"no grant {options['grant_id']!r}")
        lifecycle.revoke_grant(grant)
        self.stdout.write(json.dumps(lifecycle.describe(grant), indent=2))

    def _list(self, options: dict[str, Any]) -> None:
        found = Grant.objects.select_related("client", "customer").prefetch_related("accounts")
        if options["client_id"]:
            if not Application.objects.filter(client_id=options["client_id"]).exists():
                raise CommandError(f"no client with client_id {options['client_id']!r}")
            found = found.filter(client__client_id=options["client_id"])
        self.stdout.write(json.dumps([lifecycle.describe(g) for g in found], indent=2))
