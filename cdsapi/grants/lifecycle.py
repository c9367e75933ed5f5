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
from cdsapi.grants.scopes import INFINITE, registry, scope_of_type
from cdsapi.grants.upstream import CLIENT_ADMIN, PRESELECTIONS
from cdsapi.models import AccessToken, Application, DirectAccess, Grant
from cdsapi.times import LATEST, format_datetime, in_range, to_datetime
from usage.aggregation import AGGREGATION_TYPES


class GrantError(ValueError):
    """A grant cannot be created as asked; the message says why (for CLI, admin and OAuth)."""


class GrantEnded(GrantError):
    """The grant was revoked or closed meanwhile (final): it cannot change any more."""


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


def earliest(*moments: datetime | None) -> datetime | None:
    found = [m for m in moments if m is not None]
    return min(found) if found else None


def detail_expiry(entries: list[dict[str, Any]]) -> datetime | None:
    """The earliest ``expires`` detail field of upstream entries (WG3 §7.3.8), if any."""
    return earliest(
        *(
            datetime.fromisoformat(e["expires"])
            for e in entries
            if e.get("expires") not in (None, INFINITE)
        )
    )


@dataclass(frozen=True)
class GrantSpec:
    """A grant request that passed every check: what ``create_grant`` stores."""

    scope: str
    authorization_details: list[dict[str, Any]]
    accounts: list[Account]
    expires: datetime | None = None


def validate_grant(
    account_ids: list[str],
    authorization_details: str | list[Any],
    scope: str | None = None,
    expires: datetime | None = None,
    customer: Any = None,
    now: datetime | None = None,
    client: Application | None = None,
) -> GrantSpec:
    """Every check a grant must pass, shared by the CLI, the admin and OAuth.

    ``scope`` defaults to the types the details use. Raises ``GrantError`` or
    ``InvalidAuthorizationDetails``.
    """
    now = now or timezone.now()
    entries = ad.parse(authorization_details)
    scopes = scope.split() if scope else ad.default_scope(entries)
    resolved = ad.resolve(entries, scopes, now=now)
    if ad.family_of(resolved) == "direct":
        raise GrantError(
            "direct-access scopes are granted by the client's own token request; enable them "
            "with `cds_client direct-access`"
        )
    refused = client.not_enabled(scopes) if client is not None else []
    if refused:
        raise GrantError(
            f"scope: {', '.join(refused)} not enabled for client {client.client_id} "
            "(its enabled scopes, in the admin)"
        )
    if client is not None and DirectAccess.objects.filter(client=client).exists():
        raise GrantError(
            f"client: {client.client_id} has direct access; operator-made grants need another "
            "client (WG3 §6: direct and consent access never share a client, and nothing "
            "passes a direct client's base set)"
        )
    accounts = select_accounts(account_ids)
    if customer is not None:
        held = set(customer.cds_accounts.values_list("pk", flat=True))
        foreign = [a.cds_account_id for a in accounts if a.pk not in held]
        if foreign:
            raise GrantError(f"accounts: {', '.join(foreign)} not held by {customer}")
    expires = earliest(expires, detail_expiry(resolved))
    if expires is not None:
        if expires <= now:
            raise GrantError("expires: must be in the future")
        try:
            inside = in_range(expires.astimezone(UTC))
        except OverflowError:
            inside = False
        if not inside:
            raise GrantError(f"expires: out of range (before {LATEST.year}, in UTC)")
    return GrantSpec(" ".join(scopes), resolved, accounts, expires)


def create_grant(
    client: Application,
    account_ids: list[str],
    authorization_details: str | list[Any],
    scope: str | None = None,
    expires: datetime | None = None,
    customer: Any = None,
    now: datetime | None = None,
    selection: dict[str, Any] | None = None,
) -> Grant:
    """Validate everything (``validate_grant``), then create the grant, or nothing.
    ``selection`` is what a customer picked on the consent page (``Grant.selection``)."""
    spec = validate_grant(
        account_ids, authorization_details, scope, expires, customer, now, client=client
    )
    with transaction.atomic():
        grant = Grant.objects.create(
            client=client,
            customer=customer,
            scope=spec.scope,
            authorization_details=spec.authorization_details,
            expires=spec.expires,
            selection=selection,
        )
        grant.accounts.set(spec.accounts)
    return grant


def reauthorize(
    grant: Grant,
    account_ids: list[str],
    authorization_details: list[dict[str, Any]],
    scope: str,
    selection: dict[str, Any],
    now: datetime | None = None,
) -> Grant:
    """A customer approved a grant again (WG1-02 §8.3, ``cds_grant_id``): the grant takes
    the new scope, details and selection at once, not at the next token request."""
    spec = validate_grant(
        account_ids,
        authorization_details,
        scope,
        None,
        grant.customer,
        now,
        client=grant.client,
    )
    with transaction.atomic():
        status = (
            Grant.objects.select_for_update().filter(pk=grant.pk).values_list("status", flat=True)
        )
        if status.first() in Grant.FINAL:
            raise GrantEnded(f"grant {grant.pk} has ended; it cannot be authorized again")
        grant.scope = spec.scope
        grant.authorization_details = spec.authorization_details
        grant.expires = spec.expires
        grant.selection = selection
        grant.save()
        grant.accounts.set(spec.accounts)
    return grant


def check_direct_access(client: Application, scopes: list[str]) -> None:
    """What enabling direct access for a client must satisfy (CLI and admin): only
    direct-access scopes, and a client holding no operator-made grant (WG3 §6)."""
    known = registry()
    wrong = [s for s in scopes if s not in known or known[s].family != "direct"]
    if wrong:
        offered = " ".join(s for s, d in known.items() if d.family == "direct")
        raise GrantError(f"scope: {', '.join(wrong)} not direct-access scopes ({offered})")
    held = Grant.objects.filter(client=client, administers=None).exclude(
        status=Grant.Status.REVOKED
    )
    if any(ad.family_of(g.authorization_details) != "direct" for g in held):
        raise GrantError(
            f"client: {client.client_id} holds operator-made grants; direct access needs "
            "another client (WG3 §6: the two never share a client)"
        )


def set_direct_access(
    client: Application, scopes: list[str], accounts: list[Account], all_accounts: bool
) -> DirectAccess | None:
    """Enable (or, with no scopes, end) a client's direct access. Its direct-access grants
    that hold a scope no longer enabled are revoked, so turning a scope off and on again
    never revives an old token."""
    with transaction.atomic():
        if scopes:
            check_direct_access(client, scopes)
            access, _ = DirectAccess.objects.update_or_create(
                client=client,
                defaults={"scope": " ".join(scopes), "all_accounts": all_accounts},
            )
            access.accounts.set(accounts)
        else:
            DirectAccess.objects.filter(client=client).delete()
            access = None
        revoke_withdrawn(client, set(scopes))
    return access


def revoke_withdrawn(client: Application, enabled: set[str]) -> None:
    """Revoke the client's direct-access grants that hold a scope not in ``enabled``."""
    for grant in Grant.objects.filter(client=client, status=Grant.Status.ACTIVE):
        direct = ad.family_of(grant.authorization_details) == "direct"
        if direct and not set(grant.scopes) <= enabled:
            revoke_grant(grant)


def direct_grant(
    client: Application,
    scope: str | None,
    authorization_details: str | list[Any] | None,
    now: datetime | None = None,
) -> Grant:
    """A direct-access grant (WG3 §6.2) for a client's ``client_credentials`` token request,
    checked and returned unsaved: the token endpoint saves it with the token it issues.

    Every scope must be enabled for the client; entries default to the scopes' defaults when
    the request carries none. With ``error_if_no_preselections`` an entry must preselect
    something that matches inside the client's base set (WG3 §7.4.3)."""
    from cdsapi.grants.upstream_policy import direct_universe, served_as_of

    now = now or timezone.now()
    access = DirectAccess.objects.filter(client=client).first()
    if access is None:
        raise GrantError(f"client {client.client_id} has no direct access")
    if scope:
        scopes = scope.split()
    elif authorization_details:
        scopes = ad.default_scope(ad.parse(authorization_details))
    else:
        raise GrantError("scope: name the direct-access scopes asked for")
    disabled = [s for s in scopes if s not in access.scopes]
    if disabled:
        raise GrantError(f"scope: {', '.join(disabled)} not enabled for this client")
    if authorization_details in (None, ""):
        authorization_details = [{"type": s} for s in scopes]
    resolved = ad.resolve(authorization_details, scopes, now=now)
    if ad.family_of(resolved) != "direct":
        raise ad.InvalidAuthorizationDetails(
            "authorization_details", "expected direct-access types"
        )
    expires = detail_expiry(resolved)
    if expires is not None and expires <= now:
        raise ad.InvalidAuthorizationDetails("authorization_details", "expires is in the past")
    universe = direct_universe(client, resolved, served_as_of(resolved, now))
    for n, entry in enumerate(resolved):
        if not entry.get("error_if_no_preselections"):
            continue
        named = [p for p in PRESELECTIONS if entry.get(p) is not None]
        kinds = {PRESELECTIONS[p].kind for p in named}
        if not named or any(not getattr(universe, k) for k in kinds):
            raise ad.InvalidAuthorizationDetails(
                f"authorization_details[{n}]",
                "error_if_no_preselections is set and the preselections match nothing this "
                "client may see",
            )
    return Grant(
        client=client,
        scope=" ".join(scopes),
        authorization_details=resolved,
        expires=expires,
    )


def grant_admin_grant(
    client: Application, scope: str | None, authorization_details: str | list[Any] | None
) -> Grant:
    """A grant-admin grant (WG1-02 §3.3.2) for a token request: one entry naming the
    client itself and one of its active grants whose scopes name this grant-admin scope.
    Returned unsaved; its tokens read the administered grant's data."""
    entries = ad.parse(authorization_details)
    if len(entries) != 1:
        raise ad.InvalidAuthorizationDetails(
            "authorization_details", "a grant-admin request carries exactly one entry"
        )
    kind = entries[0].get("type")
    admin = registry().get(kind) if isinstance(kind, str) else None
    if admin is None or admin.family != "grant_admin":
        raise ad.InvalidAuthorizationDetails(
            "authorization_details[0].type", f"{kind!r} is not a grant-admin type"
        )
    if scope not in (None, "", admin.id):
        raise GrantError(f"scope: a grant-admin request asks for {admin.id!r} alone")
    entry = ad.resolve_admin(entries[0], admin)
    if entry["client_id"] != client.client_id:
        raise ad.InvalidAuthorizationDetails(
            "authorization_details[0].client_id", "is not the requesting client's client_id"
        )
    target = Grant.objects.filter(pk=entry["grant_id"], client=client).first()
    known = registry()
    if (
        target is None
        or not target.is_active()
        or target.administers is not None
        or not target.scopes
        or any(
            known.get(s) is None or known[s].grant_admin_scope != admin.id for s in target.scopes
        )
    ):
        raise ad.InvalidAuthorizationDetails(
            "authorization_details[0].grant_id",
            f"{entry['grant_id']!r} is not an active grant of this client administered by "
            f"{admin.id}",
        )
    return Grant(
        client=client,
        scope=admin.id,
        authorization_details=[entry],
        administers=target,
        expires=target.expires,
    )


def client_admin_grant(client: Application, scope: str | None, details: Any) -> Grant:
    """The grant behind a ``cds_client_admin`` token (WG1-02 §3.3.1): the client's access to
    its own registration, through the Grants API. One active grant per client serves every
    such token (unsaved when new)."""
    if (scope or "").split() != [CLIENT_ADMIN.id] or details not in (None, "", "[]"):
        raise GrantError(f"scope: {CLIENT_ADMIN.id} is asked for alone, without details")
    held = Grant.objects.filter(client=client, scope=CLIENT_ADMIN.id, status=Grant.Status.ACTIVE)
    return held.first() or Grant(client=client, scope=CLIENT_ADMIN.id, authorization_details=[])


def close_grant(grant: Grant) -> None:
    """A client ends its own grant (``closed``, WG1-02 §8.6); its tokens stop at once."""
    grant.status = Grant.Status.CLOSED
    grant.save(update_fields=["status", "modified"])


def reduce_scope(grant: Grant, scope: str) -> None:
    """A client narrows its own grant to some of its scopes (WG1-02 §8.6: a reduction needs
    no new consent); entries of the scopes dropped go with them."""
    kept = list(dict.fromkeys(scope.split()))
    if not kept:
        raise GrantError("scope: keep at least one scope, or close the grant")
    extra = [s for s in kept if s not in grant.scopes]
    if extra:
        raise GrantError(f"scope: {extra[0]!r} is not in the grant; only reductions are allowed")
    known = registry()
    types = {t for s in kept for t in known[s].authorization_details_types_supported}
    remaining = [e for e in grant.authorization_details if e["type"] in types]
    _check_cutoffs_kept(grant.authorization_details, remaining, timezone.now())
    grant.scope = " ".join(s for s in grant.scopes if s in kept)
    grant.authorization_details = remaining
    grant.save(update_fields=["scope", "authorization_details", "modified"])


def _check_cutoffs_kept(
    entries: list[dict[str, Any]], remaining: list[dict[str, Any]], now: datetime
) -> None:
    """Dropping entries may leave only those with an earlier "as of" cutoff: accounts would
    then be served as older versions than any served so far. Refused unless every cutoff
    left is no earlier than the latest the grant had (or now)."""

    def cutoff(entry: dict[str, Any]) -> datetime | None:
        value = next((entry[f] for f in CUTOFF_FIELDS if entry.get(f)), INFINITE)
        return ad.parse_bound(value)

    cutoffs = [cutoff(e) for e in entries if any(f in e for f in CUTOFF_FIELDS)]
    if not cutoffs:
        return
    floor = now if None in cutoffs else min(max(cutoffs), now)
    for entry in remaining:
        left = cutoff(entry)
        if any(f in entry for f in CUTOFF_FIELDS) and left is not None and left < floor:
            raise GrantError(
                f"scope: dropping these scopes would leave {entry['type']}'s earlier cutoff "
                f"({format_datetime(left)}) to serve account versions older than any the "
                "grant has served; close the grant instead"
            )


def narrow_details(grant: Grant, authorization_details: Any, now: datetime | None = None) -> None:
    """A client narrows its own grant's details (WG1-02 §8.6: a reduction needs no new
    consent). The same entry types, every field the same or narrower: an include turned
    off, a window or ``sync_until`` or ``expires`` drawn in, a list cut to a subset."""
    if ad.family_of(grant.authorization_details) not in ("consent", "direct", "seed"):
        raise GrantError("authorization_details: this grant's details cannot change")
    now = now or timezone.now()
    resolved = ad.resolve(authorization_details, grant.scopes, now=now)
    if sorted(e["type"] for e in resolved) != sorted(
        e["type"] for e in grant.authorization_details
    ):
        raise GrantError(
            "authorization_details: keep every entry the grant has, in the same order for "
            "each type (narrow the grant's scope to drop a type); dropping one of several "
            "entries could show what none of them served alone"
        )
    # The n-th entry of a type narrows the grant's n-th entry of that type.
    before: dict[str, list[dict[str, Any]]] = {}
    for entry in grant.authorization_details:
        before.setdefault(entry["type"], []).append(entry)
    for n, entry in enumerate(resolved):
        old = before[entry["type"]].pop(0)
        for field in scope_of_type(entry["type"]).fields_for(entry["type"]).values():
            if field.id not in entry:
                continue
            where = f"authorization_details[{n}].{field.id}"
            if not _within(field, old.get(field.id), entry[field.id]):
                raise GrantError(
                    f"{where}: {old.get(field.id)!r} cannot become {entry[field.id]!r}; only "
                    "reductions are allowed"
                )
            _check_reveals_nothing(where, field.id, old, entry, now)
    grant.authorization_details = resolved
    grant.expires = earliest(grant.expires, detail_expiry(resolved))
    grant.save(update_fields=["authorization_details", "expires", "modified"])


# Narrowings that would show what the grant never served, though each lets less through:
# an aggregate over a narrower window differs from the wider one by the readings in between,
# and an earlier "as of" cutoff serves account versions older than any served so far.
AGGREGATE_WINDOW_FIELDS = frozenset({"segment_start", "segment_end"})
CUTOFF_FIELDS = frozenset({"sync_date_end", "sync_until"})


def _check_reveals_nothing(
    where: str, field_id: str, old: dict[str, Any], new: dict[str, Any], now: datetime
) -> None:
    if old.get(field_id) == new[field_id]:
        return
    aggregated = old.get("aggregation_type", "intervals") != "intervals"
    if field_id in AGGREGATE_WINDOW_FIELDS and aggregated:
        raise GrantError(
            f"{where}: the window of an aggregated usage entry cannot be narrowed (totals over "
            "a narrower window would reveal the readings in between)"
        )
    if field_id in CUTOFF_FIELDS:
        cutoff = ad.parse_bound(new[field_id])
        served_until = ad.parse_bound(old[field_id]) if old.get(field_id) else None
        floor = now if served_until is None else min(served_until, now)
        if cutoff is not None and cutoff < floor:
            raise GrantError(
                f"{where}: cannot move before {format_datetime(floor)} (an earlier cutoff "
                "would serve account versions older than any the grant has served)"
            )


def _within(field: Any, old: Any, new: Any) -> bool:
    """Whether ``new`` lets through no more than ``old`` for this field."""
    if new == old:
        return True
    if field.format == "boolean":
        return field.id.startswith("include_") and new is False
    if field.id == "aggregation_type":  # coarser totals are sums of what was served
        levels = AGGREGATION_TYPES
        return new in levels and (old is None or levels.index(new) >= levels.index(old))
    if field.format.startswith("relative_or_absolute"):
        lo, hi = ad.parse_bound(old), ad.parse_bound(new)
        if field.looks == "back":  # a start: later is narrower; infinite is the earliest
            return lo is None or (hi is not None and hi >= lo)
        return hi is not None and (lo is None or hi <= lo)  # an end: earlier is narrower
    if "_list" in field.format:
        if field.id in PRESELECTIONS:  # a filter: null lets everything through
            return new is not None and (old is None or set(new) <= set(old))
        return new is None or (old is not None and set(new) <= set(old))
    return False


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
        "administers": grant.administers_id,
    }
