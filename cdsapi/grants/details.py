"""RFC 9396 ``authorization_details`` for CDS grants: the one validator for every entry point.

The CLI, the admin and the OAuth endpoints all call ``resolve``. It checks each entry against
the fields its scope describes in the registry (``scopes``), by their formats (SPEC §2.4), and
returns the entries with every default filled in and every relative value (``P1Y``, ``P0D``)
turned into an absolute date or datetime, computed once, now, in ``CDS_TIMEZONE``. Grants
store that result, so a window never slides.
"""

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from pydantic import TypeAdapter, ValidationError

from cdsapi import times
from cdsapi.grants import jwk
from cdsapi.grants.scopes import (
    INFINITE,
    Field,
    ScopeDescription,
    registry,
    scope_of_type,
)
from cdsapi.text import has_control_characters, json_type, unique_keys
from cdsapi.times import exact_instant, format_datetime, to_date

GRANT_ADMIN = "cds_grant_admin"

MAX_TEXT = 255
MAX_DETAILS_LENGTH = 65536

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$",
    re.ASCII,
)
# The upstream drafts write a zero duration "P0S" (seconds without the "T"); S is unambiguous.
_BARE_SECONDS = re.compile(r"^P(?P<seconds>\d+)S$", re.ASCII)


class InvalidAuthorizationDetails(ValueError):
    """``invalid_authorization_details`` (RFC 9396 §5): says which entry and field was wrong."""

    error = "invalid_authorization_details"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {json_type(value)}")
    if len(value) > MAX_TEXT or has_control_characters(value):
        raise ValueError(
            f"expected at most {MAX_TEXT} characters, and no control characters (such as NUL) "
            "or unpaired surrogates"
        )
    return value


_ENTRY_LIST = TypeAdapter(list[dict[str, Any]])


def parse(value: str | list[Any] | None) -> list[dict[str, Any]]:
    """Accept a JSON array (text, as sent in a form or on a command line) or a parsed list."""
    if value is None or value == "":
        raise InvalidAuthorizationDetails("authorization_details", "is missing")
    if isinstance(value, str):
        if len(value) > MAX_DETAILS_LENGTH:
            raise InvalidAuthorizationDetails(
                "authorization_details", f"is longer than {MAX_DETAILS_LENGTH} characters"
            )
        try:
            value = json.loads(value, object_pairs_hook=unique_keys)
        except RecursionError:
            raise InvalidAuthorizationDetails(
                "authorization_details", "is nested too deeply"
            ) from None
        except ValueError as exc:
            raise InvalidAuthorizationDetails(
                "authorization_details", f"is not valid JSON ({exc})"
            ) from None
    try:
        return _ENTRY_LIST.validate_python(value)
    except ValidationError:
        raise InvalidAuthorizationDetails(
            "authorization_details", "expected a JSON array of objects"
        ) from None


def parse_duration(text: str) -> dict[str, int] | None:
    """The parts of an ISO 8601 duration (``P1Y2M``, ``PT12H``), or None if ``text`` is not one."""
    match = _DURATION.match(text) or _BARE_SECONDS.match(text)
    if not match:
        return None
    return {k: int(v) for k, v in match.groupdict().items() if v}


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return day.replace(year=year, month=month, day=min(day.day, last))


def _shift_date(day: date, parts: dict[str, int], sign: int) -> date:
    day = _add_months(day, sign * (12 * parts.get("years", 0) + parts.get("months", 0)))
    return day + sign * timedelta(weeks=parts.get("weeks", 0), days=parts.get("days", 0))


def require_in_range(moment: datetime | date, path: str) -> None:
    """Refuse an instant or day the system cannot compute with, naming where it was."""
    if not times.in_range(moment):
        raise InvalidAuthorizationDetails(path, f"{moment.isoformat()} {times.OUT_OF_RANGE}")


def resolve_date(value: str, path: str, local_now: datetime, sign: int) -> str:
    return _resolve(_resolve_date, date.fromisoformat, value, path, local_now, sign)


def resolve_datetime(value: str, path: str, local_now: datetime, sign: int) -> str:
    return _resolve(_resolve_datetime, datetime.fromisoformat, value, path, local_now, sign)


def _resolve(
    resolver: Callable[[str, str, datetime, int], str],
    parse: Callable[[str], date],
    value: str,
    path: str,
    local_now: datetime,
    sign: int,
) -> str:
    """``value`` made absolute by ``resolver``, refused if it falls out of range."""
    if value == INFINITE:
        return value
    try:
        resolved = resolver(value, path, local_now, sign)
    except InvalidAuthorizationDetails:
        raise
    except (OverflowError, ValueError):
        raise InvalidAuthorizationDetails(path, f"{value!r} is out of range") from None
    require_in_range(parse(resolved), path)
    return resolved


def _resolve_date(value: str, path: str, local_now: datetime, sign: int) -> str:
    parts = parse_duration(value)
    if parts is None:
        try:
            return to_date(value).isoformat()
        except ValueError as exc:
            raise InvalidAuthorizationDetails(
                path, f"{exc}; or a duration such as P1Y or P13M, or 'infinite'"
            ) from None
    if {"hours", "minutes", "seconds"} & set(parts):
        raise InvalidAuthorizationDetails(
            path,
            f"expected a date YYYY-MM-DD, a duration such as P1Y or P13M, or 'infinite'; "
            f"got {value!r}",
        )
    return _shift_date(local_now.date(), parts, sign).isoformat()


def _resolve_datetime(value: str, path: str, local_now: datetime, sign: int) -> str:
    parts = parse_duration(value)
    if parts is None:
        try:
            return format_datetime(exact_instant(value, sign))
        except ValueError as exc:
            raise InvalidAuthorizationDetails(
                path, f"{exc}; or a duration such as P1Y or PT12H, or 'infinite'"
            ) from None
    day = _shift_date(local_now.date(), parts, sign)
    wall = datetime.combine(day, local_now.timetz())  # exactly now: rounding would widen
    shift = timedelta(
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    # Calendar parts move the local wall clock; clock parts are elapsed time.
    return format_datetime(wall.replace(tzinfo=local_now.tzinfo).astimezone(UTC) + sign * shift)


def parse_bound(value: str) -> datetime | date | None:
    """An absolute bound as stored in a grant; None for ``"infinite"``."""
    if value == INFINITE:
        return None
    if "T" in value:
        return datetime.fromisoformat(value)
    return date.fromisoformat(value)


def _check_order(start: str, end: str, path: str, strict: bool) -> None:
    if INFINITE in (start, end):
        return
    lo, hi = parse_bound(start), parse_bound(end)
    if lo > hi or (strict and lo == hi):
        raise InvalidAuthorizationDetails(
            path, f"the window starts ({start}) after it ends ({end})"
        )


def resolve(
    details: str | list[Any] | None,
    scopes: Iterable[str],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Validate grant ``details`` for ``scopes`` and return them absolute, defaults filled in.

    Each entry's type names a scope of the registry (``scopes.registry``), whose fields say
    what the entry may carry. Raises ``InvalidAuthorizationDetails`` naming the entry and
    field that are wrong.
    """
    scopes = list(scopes)
    known = registry()
    for scope in scopes:
        if scope not in known:
            raise InvalidAuthorizationDetails("scope", f"unknown scope {scope!r}")
    entries = parse(details)
    if not entries:
        raise InvalidAuthorizationDetails("authorization_details", "must not be empty")
    local_now = (now or timezone.now()).astimezone(ZoneInfo(settings.CDS_TIMEZONE))
    resolved = []
    for n, raw in enumerate(entries):
        path = f"authorization_details[{n}]"
        kind = raw.get("type")
        scope = scope_of_type(kind) if isinstance(kind, str) else None
        if scope is None:
            choices = ", ".join(
                repr(t) for s in known.values() for t in s.authorization_details_types_supported
            )
            raise InvalidAuthorizationDetails(
                f"{path}.type", f"expected one of {choices}, got {kind!r}"
            )
        if scope.id not in scopes:
            raise InvalidAuthorizationDetails(
                f"{path}.type", f"{kind} needs the scope {scope.id!r}, which was not asked for"
            )
        resolved.append(_resolve_entry(raw, kind, scope, path, local_now))
    _check_together(resolved, scopes)
    for scope in scopes:
        types = known[scope].authorization_details_types_supported
        if not any(entry["type"] in types for entry in resolved):
            raise InvalidAuthorizationDetails(
                "authorization_details", f"the scope {scope!r} has no entry of that type"
            )
    return resolved


def _resolve_entry(
    raw: dict[str, Any], kind: str, scope: ScopeDescription, path: str, local_now: datetime
) -> dict[str, Any]:
    """One entry checked field by field against its scope; defaults filled in."""
    fields = scope.fields_for(kind)
    for key in raw:
        if key != "type" and key not in fields:
            raise InvalidAuthorizationDetails(f"{path}.{key}", f"unknown field for {kind}")
    entry: dict[str, Any] = {"type": kind}
    for field in fields.values():
        where = f"{path}.{field.id}"
        if field.id in raw:
            value = raw[field.id]
        elif field.is_required:
            raise InvalidAuthorizationDetails(where, "is required")
        else:
            value = field.default_value()
        if value is None and field.format.endswith("_or_null") and not field.nullable:
            raise InvalidAuthorizationDetails(where, "must not be null for this scope")
        entry[field.id] = _FORMATS[field.format](value, field, where, local_now)
        if field.implied and entry[field.id] is not True:
            raise InvalidAuthorizationDetails(
                where, f"is implied by {scope.id} and cannot be turned off"
            )
    for start, end, strict in scope.windows:
        _check_order(entry[start], entry[end], path, strict)
    return {k: v for k, v in entry.items() if k == "type" or fields[k].kept}


def family_of(entries: list[dict[str, Any]]) -> str:
    """The vocabulary of a grant's entries (``seed``, ``consent`` or ``direct``)."""
    scope = scope_of_type(entries[0]["type"]) if entries else None
    return scope.family if scope else "seed"


def _check_together(entries: list[dict[str, Any]], scopes: list[str]) -> None:
    """What entries of one grant must agree on: one vocabulary (seed, consent or direct:
    their rules differ and they never share a client); for the upstream ones, one entry per
    type, one ``jwk`` (WG3 §7.4.6), a ``merge_selection_with`` naming another requested
    scope, and at most one entry that shows usage segments."""
    families = {scope_of_type(e["type"]).family for e in entries}
    if "grant_admin" in families:
        raise InvalidAuthorizationDetails(
            "authorization_details", "a grant-admin entry asks for a token; it is not a grant"
        )
    if len(families) > 1:
        raise InvalidAuthorizationDetails(
            "authorization_details",
            f"mixes vocabularies ({', '.join(sorted(families))}); a grant uses one",
        )
    if families == {"seed"}:
        return
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        path = f"authorization_details[{n}]"
        if entry["type"] in seen:
            raise InvalidAuthorizationDetails(f"{path}.type", f"{entry['type']} is given twice")
        seen.add(entry["type"])
        if entry.get("jwk") != entries[0].get("jwk"):
            raise InvalidAuthorizationDetails(
                f"{path}.jwk", "every entry of a request must carry the same jwk"
            )
        merge = entry.get("merge_selection_with")
        own = scope_of_type(entry["type"]).id
        if merge is not None and (merge not in scopes or merge == own):
            raise InvalidAuthorizationDetails(
                f"{path}.merge_selection_with", f"{merge!r} is not another scope of this request"
            )
    if sum(1 for e in entries if e.get("include_usage_segments")) > 1:
        raise InvalidAuthorizationDetails(
            "authorization_details", "only one entry of a grant may show usage segments"
        )


def _choice(value: Any, field: Field, where: str, local_now: datetime) -> str:
    ids = [c.id for c in field.choices]
    if value not in ids:
        expected = repr(ids[-1])
        if len(ids) > 1:
            expected = f"{', '.join(repr(i) for i in ids[:-1])} or {expected}"
        raise InvalidAuthorizationDetails(where, f"expected {expected}, got {value!r}")
    return value


def _or_null(check: Callable[..., Any]) -> Callable[..., Any]:
    def or_null(value: Any, field: Field, where: str, local_now: datetime) -> Any:
        return None if value is None else check(value, field, where, local_now)

    return or_null


def _no_choice(value: Any, field: Field, where: str, local_now: datetime) -> str:
    if not field.choices:
        raise InvalidAuthorizationDetails(where, "expected null (no choices are offered)")
    return _choice(value, field, where, local_now)


MAX_LIST_ITEMS = 500
SENTINELS = ("_all", "_include_future")


def _string_list(value: Any, field: Field, where: str, local_now: datetime) -> list[str]:
    if not isinstance(value, list):
        raise InvalidAuthorizationDetails(where, f"expected a list, got {json_type(value)}")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidAuthorizationDetails(where, f"expected at most {MAX_LIST_ITEMS} values")
    for n, item in enumerate(value):
        _string(item, field, f"{where}[{n}]", local_now)
        if item in SENTINELS and item not in field.sentinels:
            raise InvalidAuthorizationDetails(
                f"{where}[{n}]", f"{item!r} is not accepted for this scope's {field.id}"
            )
    if len(set(value)) != len(value):
        raise InvalidAuthorizationDetails(where, "lists a value twice")
    return list(value)


def _jwk(value: Any, field: Field, where: str, local_now: datetime) -> dict | None:
    try:
        return jwk.validate(value)
    except jwk.InvalidJwk as exc:
        raise InvalidAuthorizationDetails(where, str(exc).removeprefix("jwk: ")) from None


def _choice_list(value: Any, field: Field, where: str, local_now: datetime) -> list[str]:
    if not isinstance(value, list):
        raise InvalidAuthorizationDetails(where, f"expected a list, got {json_type(value)}")
    for n, item in enumerate(value):
        _choice(item, field, f"{where}[{n}]", local_now)
    if len(set(value)) != len(value):
        raise InvalidAuthorizationDetails(where, "lists a choice twice")
    return list(value)


def _relative(resolver: Callable[..., str]) -> Callable[..., str]:
    def check(value: Any, field: Field, where: str, local_now: datetime) -> str:
        try:
            text = _text(value)
        except ValueError as exc:
            raise InvalidAuthorizationDetails(where, str(exc)) from None
        return resolver(text, where, local_now, -1 if field.looks == "back" else +1)

    return check


def _string(value: Any, field: Field, where: str, local_now: datetime) -> str:
    try:
        return _text(value)
    except ValueError as exc:
        raise InvalidAuthorizationDetails(where, str(exc)) from None


def _boolean(value: Any, field: Field, where: str, local_now: datetime) -> bool:
    if not isinstance(value, bool):
        raise InvalidAuthorizationDetails(where, f"expected true or false, got {value!r}")
    return value


# How each field format of WG1-02 §3.9 is checked and made absolute.
_FORMATS: dict[str, Callable[[Any, Field, str, datetime], Any]] = {
    "relative_or_absolute_date": _relative(resolve_date),
    "relative_or_absolute_datetime": _relative(resolve_datetime),
    "choice": _choice,
    "choice_or_null": _or_null(_no_choice),
    "choice_list": _choice_list,
    "choice_list_or_null": _or_null(_choice_list),
    "string": _string,
    "string_or_null": _or_null(_string),
    "string_list": _string_list,
    "string_list_or_null": _or_null(_string_list),
    "boolean": _boolean,
    "jwk_or_null": _jwk,
}


# The token request for a server-created grant names it; it is a request, not a scope offered.
_GRANT_ADMIN = ScopeDescription(
    id=GRANT_ADMIN,
    type=GRANT_ADMIN,
    name="Grant admin",
    description="A token for one of the client's own server-created grants.",
    fields=(
        Field("grant_id", "Grant", "The grant's id.", "string", (GRANT_ADMIN,), is_required=True),
    ),
)


def resolve_admin(raw: dict[str, Any], scope: ScopeDescription) -> dict[str, Any]:
    """A grant-admin request's entry checked against its scope (no field is relative)."""
    return _resolve_entry(raw, raw["type"], scope, "authorization_details[0]", timezone.now())


def grant_ids_requested(details: str | list[Any] | None) -> list[str]:
    """The grant ids of a token request's ``cds_grant_admin`` entries (its only allowed type)."""
    entries = parse(details)
    if not entries:
        raise InvalidAuthorizationDetails("authorization_details", "must not be empty")
    found = []
    for n, raw in enumerate(entries):
        path = f"authorization_details[{n}]"
        if raw.get("type") != GRANT_ADMIN:
            raise InvalidAuthorizationDetails(
                f"{path}.type", f"expected {GRANT_ADMIN!r}, got {raw.get('type')!r}"
            )
        # No field of it is relative, so "now" plays no part.
        entry = _resolve_entry(raw, GRANT_ADMIN, _GRANT_ADMIN, path, timezone.now())
        found.append(entry["grant_id"])
    return found


def default_scope(details: list[dict[str, Any]]) -> list[str]:
    """The scopes a list of entries needs, in the order the registry lists them."""
    kinds = {entry.get("type") for entry in details if isinstance(entry, dict)}
    return [
        scope.id
        for scope in registry().values()
        if kinds & set(scope.authorization_details_types_supported)
    ]
