"""``manage.py cds_client``: register data recipients and set their direct access.

- ``create --name NAME [--client-id ID] [--redirect-uri URI ...] [--public] [--client-uri URL]
  [--default-scope S]``: a client; prints its secret once. With a redirect URI it asks
  customers for consent (the authorization code flow); ``--public`` (no secret, PKCE only)
  needs one.
- ``list``: the clients as JSON.
- ``direct-access --client-id ID --scopes "cds_query_accounts_1 ..." (--accounts A,B |
  --all-accounts)``: the direct-access scopes (CDS-WG3-01 §6.2) the client may ask for with
  ``client_credentials``, and its base set of accounts; ``--scopes ""`` turns it off.
"""

import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from cdsapi.grants import lifecycle
from cdsapi.grants.scopes import registry
from cdsapi.management.options import refuse_control_characters
from cdsapi.models import Application


class Command(BaseCommand):
    help = "Create an OAuth client (data recipient). Prints its client_id and client_secret."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a confidential client.")
        create.add_argument(
            "--name", required=True, help="The recipient's name, as customers will read it."
        )
        create.add_argument("--client-id", help="Default: a random id.")
        create.add_argument(
            "--redirect-uri",
            action="append",
            default=[],
            help="A redirect URI for customer consent (repeat for several).",
        )
        create.add_argument(
            "--public", action="store_true", help="No secret: a browser or mobile app (PKCE)."
        )
        create.add_argument("--client-uri", default="", help="The recipient's home page.")
        create.add_argument(
            "--default-scope", default="", help="Scopes a consent request without scope asks."
        )
        actions.add_parser("list", help="List clients as JSON.")
        direct = actions.add_parser(
            "direct-access", help="Enable direct-access scopes and set the base set of accounts."
        )
        direct.add_argument("--client-id", required=True)
        direct.add_argument("--scopes", required=True, help='Scope ids, space-separated; "" = off.')
        base = direct.add_mutually_exclusive_group()
        base.add_argument("--accounts", help="cds_account_ids, comma-separated.")
        base.add_argument(
            "--all-accounts", action="store_true", help="Every account, now and later."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_control_characters(options)
        if options["action"] == "direct-access":
            self.direct_access(options)
            return
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
        consent = bool(options["redirect_uri"])
        if options["public"] and not consent:
            raise CommandError("--public: a public client asks for consent; give --redirect-uri")
        for uri in options["redirect_uri"]:
            if urlsplit(uri).scheme not in ("https", "http") or not urlsplit(uri).netloc:
                raise CommandError(f"--redirect-uri: {uri!r} is not an absolute http(s) URL")
        known = registry()
        for scope in options["default_scope"].split():
            if scope not in known or not known[scope].by_consent:
                raise CommandError(f"--default-scope: {scope!r} is not a consent scope")
        secret = "" if options["public"] else secrets.token_urlsafe(36)
        client = Application(
            name=options["name"],
            client_id=client_id,
            client_secret=secret,  # stored hashed; shown once, here
            client_type=Application.CLIENT_PUBLIC
            if options["public"]
            else Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE
            if consent
            else Application.GRANT_CLIENT_CREDENTIALS,
            redirect_uris=" ".join(options["redirect_uri"]),
            client_uri=options["client_uri"],
            cds_default_scope=options["default_scope"],
        )
        try:
            client.full_clean(exclude=["client_secret", "user"])
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        client.save()
        shown = {"client_id": client_id, "name": options["name"]}
        if secret:
            shown["client_secret"] = secret
        if consent:
            shown["redirect_uris"] = options["redirect_uri"]
            shown["cds_default_redirect_uri"] = client.default_redirect_uri
        self.stdout.write(json.dumps(shown, indent=2))

    def direct_access(self, options: dict[str, Any]) -> None:
        client = Application.objects.filter(client_id=options["client_id"]).first()
        if client is None:
            raise CommandError(f"--client-id: no client {options['client_id']!r}")
        scopes = options["scopes"].split()
        ids = [a for a in (options["accounts"] or "").split(",") if a]
        if scopes and not ids and not options["all_accounts"]:
            raise CommandError("give --accounts ID,... or --all-accounts (the base set)")
        accounts = {a.cds_account_id: a for a in Account.objects.filter(cds_account_id__in=ids)}
        missing = [i for i in ids if i not in accounts]
        if missing:
            raise CommandError(f"--accounts: unknown cds_account_id {', '.join(missing)}")
        try:
            access = lifecycle.set_direct_access(
                client, scopes, list(accounts.values()), options["all_accounts"]
            )
        except lifecycle.GrantError as exc:
            raise CommandError(str(exc).replace("scope:", "--scopes:", 1)) from None
        if access is None:
            self.stdout.write(json.dumps({"client_id": client.client_id, "direct_access": None}))
            return
        self.stdout.write(
            json.dumps(
                {
                    "client_id": client.client_id,
                    "scopes": scopes,
                    "accounts": "all" if access.all_accounts else sorted(accounts),
                },
                indent=2,
            )
        )
