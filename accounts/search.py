"""What ``q`` matches on an account: the values of its fields (inside contacts and programs,
a contact's value and a program's number), folded the same way on every database.

SQLite folds case for ASCII only and PostgreSQL by its locale, and a JSON field's stored
text holds keys and punctuation too. So each searchable field's *values* are folded here,
in Python, when a version is imported, and stored beside it; a search folds its term the
same way and matches it as a plain substring.
"""

import unicodedata
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


# Inside contacts and programs, q matches what identifies them (CDS-WG3-01 §10.1.10): a
# contact's value (an address or a number) and a program's number; never keys or types.
_INSIDE = {"account_contacts": "value", "account_programs": "program_number"}


def program_numbers(programs: Any) -> list[str]:
    """The ``program_number`` of each program of a list (account or service programs)."""
    return _values("account_programs", programs)


def _values(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if name in _INSIDE:
        key = _INSIDE[name]
        items = value if isinstance(value, list) else []
        return [
            item[key] for item in items if isinstance(item, dict) and isinstance(item.get(key), str)
        ]
    return [value] if isinstance(value, str) else []


def texts(account_id: str, version: Any) -> dict[str, str]:
    """Each searchable field of a version (an object with the fields as attributes) as the
    folded text ``q`` is matched against; fields without a value are left out."""
    found = {"cds_account_id": fold(account_id)}
    for name in SEARCHABLE[1:]:
        values = _values(name, getattr(version, name))
        if values:
            found[name] = _SEPARATOR.join(fold(v) for v in values)
    return found
