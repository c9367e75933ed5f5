"""Grant entries in plain language, generated from the scope registry (never hand-written
per scope, so the page says exactly what the policy enforces)."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.formats import date_format

from cdsapi.grants.scopes import INFINITE, Field, scope_of_type
from cdsapi.grants.upstream import CONSENT_FORM_FIELDS, PRESELECTIONS


@dataclass(frozen=True)
class EntryText:
    scope_id: str
    name: str
    description: str
    shares: tuple[str, ...]
    limits: tuple[str, ...]


def _moment(value: str, field: Field) -> str:
    if value == INFINITE:
        return "no limit"
    if field.format.endswith("datetime"):
        moment = datetime.fromisoformat(value)
        local = moment.astimezone(ZoneInfo(settings.CDS_TIMEZONE))
        return date_format(local, "DATETIME_FORMAT")
    return date_format(date.fromisoformat(value), "DATE_FORMAT")


def describe(entry: dict[str, Any]) -> EntryText:
    """What one entry shares, and within which limits, in the registry's own words."""
    scope = scope_of_type(entry["type"])
    fields = scope.fields_for(entry["type"])
    shares: list[str] = []
    limits: list[str] = []
    for field in fields.values():
        value = entry.get(field.id)
        if field.id in CONSENT_FORM_FIELDS or field.id not in entry:
            continue
        if field.format == "boolean":
            if value is True:
                shares.append(_capital(field.name))
        elif field.format.startswith("relative_or_absolute"):
            limits.append(f"{field.name}: {_moment(value, field)}")
        elif field.id == "jwk":
            if value is not None:
                limits.append("Sent encrypted to a key only the recipient holds")
        elif field.id in PRESELECTIONS:
            if value is not None:
                # The client's own words: quoted, so they cannot pass for the page's.
                quoted = ", ".join(f"“{v}”" for v in value)
                limits.append(f"{field.name}: only {quoted or 'none'}")
        elif field.format.startswith("choice_list"):
            if value is None:
                limits.append(f"{field.name}: none")
            else:
                names = {c.id: c.name for c in field.choices}
                limits.append(f"{field.name}: {', '.join(names.get(v, v) for v in value)}")
    return EntryText(
        scope.id, scope.name, scope.description, tuple(shares), tuple(map(_capital, limits))
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
