"""What ``q`` matches on an account: the values of its fields, folded the same way on every
database.

SQLite folds case for ASCII only and PostgreSQL by its locale, and a JSON field's stored
text holds keys and punctuation too. So each searchable field's *values* are folded here,
in Python, when a version is imported, and stored beside it; a search folds its term the
same way and matches it as a plain substring.
"""

import unicodedata
from collections.abc import Iterable
from typing import Any

SEARCHABLE = (
    "cds_account_id",
    "customer_number",
    "account_number",
    "account_address",
    "account_name",
    "account_contacts",
    "account_programs",
)
_SEPARATOR = "\n"  # q refuses control characters, so a term never spans two values


def fold(text: str) -> str:
    """Compatibility-normalised and case-folded: ``Straße`` and ``STRASSE`` match."""
    return unicodedata.normalize("NFKC", text).casefold()


def _scalars(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, str):
        yield value
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def texts(account_id: str, version: Any) -> dict[str, str]:
    """Each searchable field of a version (an object with the fields as attributes) as the
    folded text ``q`` is matched against; fields without a value are left out."""
    found = {"cds_account_id": fold(account_id)}
    for name in SEARCHABLE[1:]:
        values = list(_scalars(getattr(version, name)))
        if values:
            found[name] = _SEPARATOR.join(fold(v) for v in values)
    return found
