"""RFC 9396 ``authorization_details`` for CDS grants: the one validator for every entry point.

The CLI, the admin and the OAuth endpoints all call ``resolve``. It checks each entry against
SPEC §2.1 to §2.4 and returns the entries with every default filled in and every relative
value (``P1Y``, ``P0D``) turned into an absolute date or datetime, computed once, now, in
``CDS_TIMEZONE``. Grants store that result, so a window never slides.
"""

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

from accounts.models import ACCOUNT_FIELDS
from cdsapi.importer.errors import json_path
from cdsapi.times import EARLIEST, LATEST, exact_instant, format_datetime, to_date
from usage.aggregation import AGGREGATION_TYPES

ACCOUNTS = "cds_current_accounts_details"
BILLS = "cds_bill_statements"
USAGE = "cds_usage"
DETAIL_TYPES = (ACCOUNTS, BILLS, USAGE)
GRANT_ADMIN = "cds_grant_admin"

FLAVORS = ("full", "usage_only", "amount_due_only")
INFINITE = "infinite"
MAX_TEXT = 255
MAX_DETAILS_LENGTH = 65536

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class InvalidAuthorizationDetails(ValueError):
    """``invalid_authorization_details`` (RFC 9396 §5): says which entry and field was wrong."""

    error = "invalid_authorization_details"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT or any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError(
            f"expected at most {MAX_TEXT} characters and no control characters (such as NUL)"
        )
    return value


Text = Annotated[str, BeforeValidator(_text)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountsEntry(_Entry):
    type: Literal["cds_current_accounts_details"]
    sync_date_end: Text = INFINITE
    fields: list[Literal[ACCOUNT_FIELDS]] | None = None


class BillsEntry(_Entry):
    type: Literal["cds_bill_statements"]
    statement_date_start: Text = INFINITE
    statement_date_end: Text = INFINITE
    flavor: Literal[FLAVORS] = "full"


class UsageEntry(_Entry):
    type: Literal["cds_usage"]
    segment_start: Text = INFINITE
    segment_end: Text = INFINITE
    aggregation_type: Literal[AGGREGATION_TYPES] | None = None


class GrantAdminEntry(_Entry):
    type: Literal["cds_grant_admin"]
    grant_id: Text


_MODELS: dict[str, type[_Entry]] = {
    ACCOUNTS: AccountsEntry,
    BILLS: BillsEntry,
    USAGE: UsageEntry,
    GRANT_ADMIN: GrantAdminEntry,
}
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
            value = json.loads(value)
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


def _validate_entry(entry: dict[str, Any], n: int, allowed: Iterable[str]) -> _Entry:
    path = f"authorization_details[{n}]"
    kind = entry.get("type")
    if kind not in allowed:
        choices = ", ".join(repr(t) for t in allowed)
        raise InvalidAuthorizationDetails(
            f"{path}.type", f"expected one of {choices}, got {kind!r}"
        )
    try:
        return _MODELS[kind].model_validate(entry)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = json_path((path, *first["loc"]))
        if first["type"] == "extra_forbidden":
            raise InvalidAuthorizationDetails(where, f"unknown field for {kind}") from None
        if first["type"] == "literal_error":
            expected = first["msg"].replace("Input should be", "expected")
            raise InvalidAuthorizationDetails(
                where, f"{expected}, got {first['input']!r}"
            ) from None
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidAuthorizationDetails(where, message) from None


def default_account_fields() -> list[str]:
    """The ``CDS_DEFAULT_ACCOUNT_FIELDS`` setting (empty means every account field)."""
    fields = list(settings.CDS_DEFAULT_ACCOUNT_FIELDS) or list(ACCOUNT_FIELDS)
    unknown = sorted(set(fields) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ImproperlyConfigured(f"CDS_DEFAULT_ACCOUNT_FIELDS: unknown fields {unknown}")
    return fields


def parse_duration(text: str) -> dict[str, int] | None:
    """The parts of an ISO 8601 duration (``P1Y2M``, ``PT12H``), or None if ``text`` is not one."""
    match = _DURATION.match(text)
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


def in_range(moment: datetime | date, path: str) -> None:
    """Refuse an instant or day outside ``EARLIEST``..``LATEST``, naming where it was."""
    if isinstance(moment, datetime):
        inside = EARLIEST <= moment < LATEST
    else:
        inside = EARLIEST.date() <= moment < LATEST.date()
    if not inside:
        raise InvalidAuthorizationDetails(
            path,
            f"{moment.isoformat()} is out of range (from {EARLIEST.year} to {LATEST.year - 1})",
        )


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
    in_range(parse(resolved), path)
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
    wall = datetime.combine(day, local_now.timetz().replace(microsecond=0))
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

    Raises ``InvalidAuthorizationDetails`` naming the entry and field that are wrong.
    """
    scopes = list(scopes)
    for scope in scopes:
        if scope not in DETAIL_TYPES:
            raise InvalidAuthorizationDetails("scope", f"unknown scope {scope!r}")
    entries = parse(details)
    if not entries:
        raise InvalidAuthorizationDetails("authorization_details", "must not be empty")
    local_now = (now or timezone.now()).astimezone(ZoneInfo(settings.CDS_TIMEZONE))
    resolved = []
    for n, raw in enumerate(entries):
        entry = _validate_entry(raw, n, DETAIL_TYPES)
        path = f"authorization_details[{n}]"
        if entry.type not in scopes:
            raise InvalidAuthorizationDetails(
                f"{path}.type",
                f"{entry.type} needs the scope {entry.type!r}, which was not asked for",
            )
        if isinstance(entry, AccountsEntry):
            fields = entry.fields
            if fields is None:
                fields = default_account_fields()
            elif len(set(fields)) != len(fields):
                raise InvalidAuthorizationDetails(f"{path}.fields", "lists a field twice")
            resolved.append(
                {
                    "type": ACCOUNTS,
                    "sync_date_end": resolve_datetime(
                        entry.sync_date_end, f"{path}.sync_date_end", local_now, +1
                    ),
                    "fields": fields,
                }
            )
        elif isinstance(entry, BillsEntry):
            start = resolve_date(
                entry.statement_date_start, f"{path}.statement_date_start", local_now, -1
            )
            end = resolve_date(
                entry.statement_date_end, f"{path}.statement_date_end", local_now, +1
            )
            _check_order(start, end, path, strict=False)
            resolved.append(
                {
                    "type": BILLS,
                    "statement_date_start": start,
                    "statement_date_end": end,
                    "flavor": entry.flavor,
                }
            )
        else:
            start = resolve_datetime(entry.segment_start, f"{path}.segment_start", local_now, -1)
            end = resolve_datetime(entry.segment_end, f"{path}.segment_end", local_now, +1)
            _check_order(start, end, path, strict=True)
            resolved.append(
                {
                    "type": USAGE,
                    "segment_start": start,
                    "segment_end": end,
                    "aggregation_type": entry.aggregation_type
                    or settings.CDS_DEFAULT_AGGREGATION_TYPE,
                }
            )
    for scope in scopes:
        if not any(e["type"] == scope for e in resolved):
            raise InvalidAuthorizationDetails(
                "authorization_details", f"the scope {scope!r} has no entry of that type"
            )
    return resolved


def grant_ids_requested(details: str | list[Any] | None) -> list[str]:
    """The grant ids of a token request's ``cds_grant_admin`` entries (its only allowed type)."""
    entries = parse(details)
    if not entries:
        raise InvalidAuthorizationDetails("authorization_details", "must not be empty")
    return [_validate_entry(raw, n, (GRANT_ADMIN,)).grant_id for n, raw in enumerate(entries)]


def default_scope(details: list[dict[str, Any]]) -> list[str]:
    """The scopes a list of entries needs, in the order the types are defined."""
    kinds = {entry.get("type") for entry in details if isinstance(entry, dict)}
    return [t for t in DETAIL_TYPES if t in kinds]
