"""``manage.py cds_demo_grants``: a demo client, one grant of each type, tokens and curl lines.

Run after the demo data is imported. Each run replaces the demo client's grants and tokens.
"""

import base64
import hashlib
import json
import secrets
import shlex
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from cdsapi.grants import lifecycle
from cdsapi.models import Application, DirectAccess

CLIENT_ID = "demo-recipient"
DEMO_GRANTS = [
    (
        "Accounts: two homes, only account_number and account_name, frozen on 2025-03-01 "
        "(acc-r2 was renamed in June 2025, so its old name is served)",
        ["acc-r1", "acc-r2"],
        [
            {
                "type": "cds_current_accounts_details",
                "fields": ["account_number", "account_name"],
                "sync_date_end": "2025-03-01T00:00:00Z",
            }
        ],
        "accounts",
    ),
    (
        "Bill statements, usage_only (no money anywhere), the last 12 months",
        ["acc-r1"],
        [{"type": "cds_bill_statements", "flavor": "usage_only", "statement_date_start": "P1Y"}],
        "bill-statements",
    ),
    (
        "Usage: the solar home's 15-minute intervals (and hourly gas) for the last week of "
        "October 2026",
        ["acc-r1"],
        [
            {
                "type": "cds_usage",
                "segment_start": "2026-10-25T07:00:00Z",
                "segment_end": "2026-11-01T07:00:00Z",
            }
        ],
        "usage-segments",
    ),
    (
        "Usage: the solar home's meters, monthly aggregates from November 2025",
        ["acc-r1"],
        [
            {
                "type": "cds_usage",
                "aggregation_type": "monthly_aggregates",
                "segment_start": "2025-11-01T07:00:00Z",
            }
        ],
        "usage-segments",
    ),
    (
        "Upstream vocabulary: the solar home's service contracts with rate plans, and its "
        "usage for the last 30 days naming its meters (read this grant with the grant-admin "
        "request too, see the README)",
        ["acc-r1"],
        [
            {"type": "cds_service_contracts_1", "include_rate_plans": True},
            {"type": "cds_usage_1", "segment_start": "P30D", "include_meter_devices": True},
        ],
        "service-contracts",
    ),
]
CONSENT_CLIENT_ID = "demo-app"
CONSENT_REDIRECT = "http://localhost:8765/callback"
CONSENT_DETAILS = [
    {
        "type": "cds_usage_1",
        "segment_start": "P30D",
        "include_meter_devices": True,
        "include_meter_numbers": True,
    }
]
WEB_CLIENT_ID = "demo-web"
CUSTOMER_PASSWORD = "demo"
DIRECT_CLIENT_ID = "demo-portal"
DIRECT_SCOPES = "cds_query_accounts_1 cds_query_meter_devices_1"


def _fresh_client(client_id: str, name: str) -> Application:
    """The demo client with this id, without the grants an earlier run gave it."""
    client, _ = Application.objects.get_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
        },
    )
    client.cds_grants.all().delete()
    return client


class Command(BaseCommand):
    help = "Create the demo client and grants (of every type) and print curl commands."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Account.objects.filter(cds_account_id="acc-r1").exists():
            raise CommandError("the demo data is not loaded; run `make demo-data` first")
        client = _fresh_client(CLIENT_ID, "Demo data recipient")
        secret = secrets.token_urlsafe(24)
        client.client_secret = secret
        client.save()
        base = options["base_url"].rstrip("/") + "/cds-customerdata-api/v1/"
        for title, accounts, details, endpoint in DEMO_GRANTS:
            grant = lifecycle.create_grant(client, accounts, details)
            token, _ = lifecycle.issue_token(grant)
            self.stdout.write(f"# {title}")
            self.stdout.write(f"#   grant {grant.pk}: {json.dumps(grant.authorization_details)}")
            url = shlex.quote(base + endpoint)
            self.stdout.write(f"curl -s -H 'Authorization: Bearer {token}' {url}\n")
        token_url = shlex.quote(options["base_url"].rstrip("/") + "/oauth/token")
        entry = shlex.quote(
            "authorization_details="
            + json.dumps([{"type": "cds_grant_admin", "grant_id": grant.pk}])
        )
        self.stdout.write(
            f"# These grants' client: client_id {CLIENT_ID}, client_secret {secret}. A fresh "
            'token for the last grant (README "Tokens for server-created grants"):\n'
            f"#    curl -s -u {CLIENT_ID}:{secret} {token_url} -d grant_type=client_credentials "
            f"--data-urlencode {entry}\n"
        )
        self.direct_access(base)
        self.consent(options["base_url"].rstrip("/"))

    def direct_access(self, base: str) -> None:
        """A second client with direct access to the bakery's accounts, and one token as its
        own token request would get it (account and meter numbers shown)."""
        client = _fresh_client(DIRECT_CLIENT_ID, "Demo building portal (direct access)")
        access, _ = DirectAccess.objects.update_or_create(
            client=client, defaults={"scope": DIRECT_SCOPES, "all_accounts": False}
        )
        access.accounts.set(Account.objects.filter(cds_account_id__in=["acc-c0", "acc-c1"]))
        details = [
            {"type": "cds_query_accounts_1", "include_account_numbers": True},
            {"type": "cds_query_meter_devices_1", "include_meter_numbers": True},
        ]
        grant = lifecycle.direct_grant(client, DIRECT_SCOPES, details)
        grant.save()
        token, _ = lifecycle.issue_token(grant)
        self.stdout.write(
            "# Direct access (cds_query_*): the bakery's head office and one shop, meters "
            "with their numbers"
        )
        self.stdout.write(f"#   grant {grant.pk}: {json.dumps(grant.authorization_details)}")
        url = shlex.quote(base + "meter-devices")
        self.stdout.write(f"curl -s -H 'Authorization: Bearer {token}' {url}\n")

    def consent(self, base: str) -> None:
        """A public app that asks customers for consent, a login for every demo customer,
        and the code flow's steps (PAR, browser, code exchange) ready to paste."""
        client = _fresh_client(CONSENT_CLIENT_ID, "Demo energy app (customer consent)")
        client.client_type = Application.CLIENT_PUBLIC
        client.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
        client.redirect_uris = CONSENT_REDIRECT
        client.client_uri = "https://example.org/demo-energy-app"
        client.save()
        customers = get_user_model().objects.filter(cds_accounts__isnull=False).distinct()
        for user in customers:
            user.set_password(CUSTOMER_PASSWORD)
            user.save(update_fields=["password"])
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        par = [
            "curl -s -X POST",
            shlex.quote(f"{base}/oauth/par"),
            f"-d client_id={CONSENT_CLIENT_ID} -d response_type=code",
            f"-d redirect_uri={shlex.quote(CONSENT_REDIRECT)} -d scope=cds_usage_1 -d state=demo",
            f"-d code_challenge={challenge.rstrip(b'=').decode()} -d code_challenge_method=S256",
            "--data-urlencode",
            shlex.quote(f"authorization_details={json.dumps(CONSENT_DETAILS)}"),
        ]
        names = ", ".join(sorted(u.get_username() for u in customers))
        self.stdout.write(
            '# Customer consent (the code flow, README "Customer consent"): customers '
            f"{names} log in with the password {CUSTOMER_PASSWORD!r}.\n"
            "# 1. The app pushes its request and gets a request_uri:\n"
            f"{' '.join(par)}\n"
            "# 2. Open in a browser, log in, pick what to share, approve (then copy code=... "
            f"from the address bar; nothing listens at {CONSENT_REDIRECT}):\n"
            f"#    {base}/oauth/authorize?client_id={CONSENT_CLIENT_ID}&request_uri=REQUEST_URI\n"
            "# 3. The app exchanges the code (the PKCE verifier proves it is the same app):\n"
            f"curl -s -X POST {shlex.quote(base + '/oauth/token')} -d grant_type=authorization_code"
            f" -d client_id={CONSENT_CLIENT_ID} -d redirect_uri={shlex.quote(CONSENT_REDIRECT)}"
            f" -d code_verifier={verifier} -d code=CODE\n"
            f"# The customer's receipts and grants: {base}/my/grants\n"
        )
        self.confidential_consent(base)

    def confidential_consent(self, base: str) -> None:
        """The same flow for a confidential app, which may also list its grants."""
        client = _fresh_client(WEB_CLIENT_ID, "Demo energy web service (customer consent)")
        secret = secrets.token_urlsafe(24)
        client.client_secret = secret
        client.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
        client.redirect_uris = CONSENT_REDIRECT
        client.save()
        token_url = shlex.quote(base + "/oauth/token")
        self.stdout.write(
            f"# The same flow as a confidential app: client_id {WEB_CLIENT_ID}, secret {secret}"
            f" (add -u {WEB_CLIENT_ID}:{secret} to steps 1 and 3). It may also list its grants:\n"
            f"curl -s -u {WEB_CLIENT_ID}:{secret} {token_url} -d grant_type=client_credentials"
            " -d scope=cds_client_admin\n"
            f"#    curl -s -H 'Authorization: Bearer ADMIN_TOKEN' {base}/cds-api/v1/grants\n"
        )
