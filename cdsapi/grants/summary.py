"""What a grant shows and what it hides, in plain words (the admin's grant preview).

Built on what already says it, never a second copy of the rules: each entry's shares and
limits are ``cdsapi.grants.describe``'s (generated from the scope registry, as the consent page
words them); what an upstream ``include_*`` left off would have shown comes from the upstream
table (``cdsapi.grants.upstream``), and what a seed bill ``flavor`` leaves out from the seed
policy's field sets (``cdsapi.grants.policy``). Nothing here decides access; the policy does.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import ACCOUNT_FIELDS
from cdsapi.grants import upstream
from cdsapi.grants.describe import describe
from cdsapi.grants.details import family_of
from cdsapi.grants.policy import SECTION_FIELDS, STATEMENT_FIELDS
from cdsapi.grants.scopes import ACCOUNTS, BILLS, USAGE, Field, scope_of_type
from cdsapi.models import Grant

# The kinds of object of the upstream table, as the endpoints name them.
KINDS = {
    upstream.ACCOUNTS: "accounts",
    upstream.CONTRACTS: "service contracts",
    upstream.POINTS: "service points",
    upstream.METERS: "meter devices",
    upstream.STATEMENTS: "bill statements",
    upstream.SECTIONS: "bill sections",
    upstream.SEGMENTS: "usage segments",
}


@dataclass(frozen=True)
class EntrySummary:
    scope_id: str
    name: str
    description: str
    shows: tuple[str, ...]
    hides: tuple[str, ...]
    limits: tuple[str, ...]


@dataclass(frozen=True)
class GrantSummary:
    serves: bool
    headline: str
    facts: tuple[tuple[str, str], ...]
    entries: tuple[EntrySummary, ...]
    never_shown: tuple[str, ...]


def summarize(grant: Grant, now: datetime | None = None) -> GrantSummary:
    """The grant in plain words: whether it serves anything now, its accounts, expiry and
    status, and for each entry (of the grant whose data it reads) what it shares, what it
    does not, and within which limits."""
    now = now or timezone.now()
    data = grant.data_grant
    serves = grant.is_active(now)
    entries = data.authorization_details
    return GrantSummary(
        serves=serves,
        headline=(
            "Serves data now: a token bound to this grant reads what is listed below, and "
            "nothing else."
            if serves
            else f"Serves nothing: {_why_not(grant, now)}. Every request with its tokens is "
            "refused (401 invalid_token), whatever the entries below say."
        ),
        facts=tuple(_facts(grant, data, now)),
        entries=tuple(_entry(entry) for entry in entries),
        never_shown=tuple(_never_shown(entries)),
    )


def _why_not(grant: Grant, now: datetime) -> str:
    for which, one in (("this grant", grant), ("the grant it administers", grant.administers)):
        if one is None:
            continue
        if one.status != Grant.Status.ACTIVE:
            return f"{which} is {one.status}"
        if one.expires is not None and one.expires <= now:
            return f"{which} expired on {_moment(one.expires)}"
    return "this grant is not active"


def _moment(moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo(settings.CDS_TIMEZONE))
    return f"{date_format(local, 'DATETIME_FORMAT')} ({settings.CDS_TIMEZONE})"


def _facts(grant: Grant, data: Grant, now: datetime) -> list[tuple[str, str]]:
    accounts = sorted(data.accounts.values_list("cds_account_id", flat=True))
    facts = [
        ("Status", str(grant.shown_status(now))),
        ("Recipient", f"{grant.client.name} ({grant.client.client_id})"),
        (
            "Customer",
            data.customer.get_username() if data.customer else "none (made by an operator)",
        ),
        ("Accounts selected", ", ".join(accounts) or "none"),
    ]
    if data.selection:
        picked = data.selection
        ids = ", ".join(picked.get("ids") or ()) or "none"
        later = "; and what the customer gets later" if picked.get("include_future") else ""
        facts.append(
            (
                "Customer's selection",
                f"{str(picked.get('type', '')).replace('_', ' ')}: {ids}{later}",
            )
        )
    facts.append(("Access until", _moment(grant.expires) if grant.expires else "no end date"))
    if grant.administers_id:
        facts.append(("Reads through", f"grant {grant.administers_id} (its entries below)"))
    facts.append(("Scopes", grant.scope))
    return facts


def _entry(entry: dict[str, Any]) -> EntrySummary:
    scope = scope_of_type(entry.get("type", ""))
    if scope is None:
        return EntrySummary(
            str(entry.get("type")),
            str(entry.get("type")),
            "Unknown here: shows nothing.",
            (),
            (),
            (),
        )
    text = describe(entry)
    shows = list(text.shares)
    hides: list[str] = []
    limits = list(text.limits)
    for field in scope.fields_for(entry["type"]).values():
        if field.id in upstream.CONSENT_FORM_FIELDS or field.id not in entry:
            continue
        value = entry[field.id]
        if field.format == "boolean" and value is False:
            hides.append(_include_words(field))
        elif field.format == "choice":
            names = {c.id: c.name for c in field.choices}
            limits.append(f"{field.name}: {names.get(value, value)}")
        elif field.format.startswith("choice_list") and field.id not in upstream.PRESELECTIONS:
            # A list of what is shown (account fields, value types): describe words it as a
            # limit; here it is what the entry shares, and the rest what it does not.
            line = next((t for t in limits if t.startswith(f"{field.name}: ")), None)
            if line is not None:
                limits.remove(line)
                shows.append(line)
            left = [c.name for c in field.choices if value is None or c.id not in value]
            if left:
                hides.append(f"{field.name}: {', '.join(left)}")
    if entry["type"] == BILLS:
        hides += _flavor_hides(entry["flavor"])
    return EntrySummary(
        scope.id, scope.name, scope.description, tuple(shows), tuple(hides), tuple(limits)
    )


def _include_words(field: Field) -> str:
    """An ``include_*`` left off, with the object fields it would have shown."""
    if field.id in upstream.OBJECT_INCLUDES:
        return f"{field.name.capitalize()} (not served)"
    shown = upstream.FIELD_INCLUDES.get(field.id, {})
    where = "; ".join(f"{', '.join(sorted(names))} on {KINDS[k]}" for k, names in shown.items())
    return f"{field.name.capitalize()} ({where})" if where else field.name.capitalize()


def _flavor_hides(flavor: str) -> list[str]:
    hides = []
    statement = sorted(STATEMENT_FIELDS["full"] - STATEMENT_FIELDS[flavor])
    if statement:
        hides.append(f"Bill statement fields: {', '.join(statement)}")
    if flavor not in SECTION_FIELDS:
        hides.append("Bill sections (not served)")
    else:
        section = sorted(SECTION_FIELDS["full"] - SECTION_FIELDS[flavor])
        if section:
            hides.append(
                f"Bill section fields: {', '.join(section)}; usage details that are not "
                "measurements"
            )
    return hides


def _never_shown(entries: list[dict[str, Any]]) -> list[str]:
    """What no entry of the grant shows (entries combine: any entry that shows a field
    shows it)."""
    if family_of(entries) == "seed":
        return _seed_never_shown(entries)
    on = {key for entry in entries for key, value in entry.items() if value is True}
    kinds = {kind for key, kind in upstream.OBJECT_INCLUDES.items() if key in on}
    found = []
    missing = [KINDS[k] for k in KINDS if k not in kinds]
    if missing:
        found.append(f"Not served at all: {', '.join(missing)}")
    for key, shown in upstream.FIELD_INCLUDES.items():
        hidden = {k: names for k, names in shown.items() if k in kinds}
        if key not in on and hidden:
            where = "; ".join(f"{', '.join(sorted(n))} on {KINDS[k]}" for k, n in hidden.items())
            found.append(f"Never shown: {where}")
    return found


def _seed_never_shown(entries: list[dict[str, Any]]) -> list[str]:
    types = {entry["type"] for entry in entries}
    served = set()
    if ACCOUNTS in types:
        served.add(upstream.ACCOUNTS)
    if BILLS in types:
        served.add(upstream.STATEMENTS)
        if any(e["flavor"] in SECTION_FIELDS for e in entries if e["type"] == BILLS):
            served.add(upstream.SECTIONS)
    if USAGE in types:
        served.add(upstream.SEGMENTS)
    found = []
    missing = [KINDS[k] for k in KINDS if k not in served]
    if missing:
        found.append(f"Not served at all: {', '.join(missing)}")
    if ACCOUNTS in types:
        granted = {f for e in entries if e["type"] == ACCOUNTS for f in e["fields"]}
        hidden = [f for f in ACCOUNT_FIELDS if f not in granted]
        if hidden:
            found.append(f"Never shown: {', '.join(hidden)} on accounts")
    return found
