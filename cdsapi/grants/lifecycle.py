"""Creating, revoking and exercising grants: one code path for the CLI, the admin and OAuth."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import set_token_value
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from accounts.models import Account
from cdsapi.grants import details as ad
from cdsapi.grants.scopes import INFINITE
from cdsapi.models import AccessToken, Application, Grant
from cdsapi.times import LATEST, format_datetime, in_range, to_datetime


class GrantError(ValueError):
    """A grant cannot be created as asked; the message says why (for CLI, admin and OAuth)."""


def parse_expires(value: str | None, now: datetime | None = None) -> datetime | None:
    """``--expires``: an RFC 3339 datetime, a duration from now (``P90D``), or ``never``."""
    if value in (None, "", "never", INFINITE):
        return None
    if ad.parse_duration(value) is not None:
        local_now = (now or timezone.now()).astimezone(ZoneInfo(settings.CDS_TIMEZONE))
        try:
            return datetime.fromisoformat(ad.resolve_datetime(value, "expires", local_now, +1))
        except ad.InvalidAuthorizationDetails as exc:
            raise GrantError(str(exc)) from None
    try:
        moment = to_datetime(value)
    except ValueError as exc:
        raise GrantError(f"expires: {exc}; or a duration such as P90D, or 'never'") from None
    return moment


def select_accounts(account_ids: list[str]) -> list[Account]:
    """The accounts named by ``cds_account_id``; every one must exist."""
    if not account_ids:
        raise GrantError("accounts: name at least one cds_account_id")
    found = {a.cds_account_id: a for a in Account.objects.filter(cds_account_id__in=account_ids)}
    missing = [i for i in account_ids if i not in found]
    if missing:
        raise GrantError(f"accounts: unknown cds_account_id {', '.join(map(repr, missing))}")
    return [found[i] for i in dict.fromkeys(account_ids)]


@dataclass(frozen=True)
class GrantSpec:
    """A grant request that passed every check: what ``create_grant`` stores."""

    scope: str
    authorization_details: list[dict[str, Any]]
    accounts: list[Account]


def validate_grant(
    account_ids: list[str],
    authorization_details: str | list[Any],
    scope: str | None = None,
    expires: datetime | None = None,
    customer: Any = None,
    now: datetime | None = None,
) -> GrantSpec:
    """Every check a grant must pass, shared by the CLI, the admin and OAuth.

    ``scope`` defaults to the types the details use. Raises ``GrantError`` or
    ``InvalidAuthorizationDetails``.
    """
    now = now or timezone.now()
    entries = ad.parse(authorization_details)
    scopes = scope.split() if scope else ad.default_scope(entries)
    resolved = ad.resolve(entries, scopes, now=now)
    accounts = select_accounts(account_ids)
    if customer is not None:
        held = set(customer.cds_accounts.values_list("pk", flat=True))
        foreign = [a.cds_account_id for a in accounts if a.pk not in held]
        if foreign:
            raise GrantError(f"accounts: {', '.join(foreign)} not held by {customer}")
    if expires is not None:
        if expires <= now:
            raise GrantError("expires: must be in the future")
        try:
            inside = in_range(expires.astimezone(UTC))
        except OverflowError:
            inside = False
        if not inside:
            raise GrantError(f"expires: out of range (before {LATEST.year}, in UTC)")
    return GrantSpec(" ".join(scopes), resolved, accounts)


def create_grant(
    client: Application,
    account_ids: list[str],
    authorization_details: str | list[Any],
    scope: str | None = None,
    expires: datetime | None = None,
    customer: Any = None,
    now: datetime | None = None,
) -> Grant:
    """Validate everything (``validate_grant``), then create the grant, or nothing."""
    spec = validate_grant(account_ids, authorization_details, scope, expires, customer, now)
    with transaction.atomic():
        grant = Grant.objects.create(
            client=client,
            customer=customer,
            scope=spec.scope,
            authorization_details=spec.authorization_details,
            expires=expires,
        )
        grant.accounts.set(spec.accounts)
    return grant


def revoke_grant(grant: Grant) -> None:
    """Revoke a grant; its tokens stop working on their next request."""
    grant.status = Grant.Status.REVOKED
    grant.save(update_fields=["status", "modified"])


def token_lifetime(grant: Grant, now: datetime | None = None) -> int:
    """Seconds a new token of ``grant`` lives: the configured lifetime, never past the
    grant's own expiry."""
    lifetime = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    if grant.expires is not None:
        left = (grant.expires - (now or timezone.now())).total_seconds()
        lifetime = min(lifetime, int(left))
    return max(1, lifetime)


def issue_token(grant: Grant, now: datetime | None = None) -> tuple[str, int]:
    """Issue an access token bound to ``grant`` (as the token endpoint would).

    Returns the token and its lifetime in seconds. Only the token's checksum is stored.
    """
    now = now or timezone.now()
    if not grant.is_active(now):
        raise GrantError(f"grant {grant.id} is {grant.status}, not active")
    lifetime = token_lifetime(grant, now)
    expires = now + timedelta(seconds=lifetime)
    raw = generate_token()
    token = AccessToken(
        application=grant.client,
        user=grant.customer,
        cds_grant=grant,
        scope=grant.scope,
        expires=expires,
    )
    set_token_value(token, raw)
    token.save()
    return raw, lifetime


def describe(grant: Grant) -> dict[str, Any]:
    """A grant as the CLI and the admin show it."""
    return {
        "grant_id": grant.id,
        "client_id": grant.client.client_id,
        "customer": grant.customer.get_username() if grant.customer else None,
        "accounts": sorted(grant.accounts.values_list("cds_account_id", flat=True)),
        "scope": grant.scope,
        "authorization_details": grant.authorization_details,
        "status": grant.status,
        "created": format_datetime(grant.created),
        "expires": format_datetime(grant.expires) if grant.expires else None,
    }
