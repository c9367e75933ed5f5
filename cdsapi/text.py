"""Text every input path refuses alike."""

import unicodedata


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, which PostgreSQL cannot store and
    raises on deep inside a query, or any other) or an unpaired surrogate (which no
    database can store as UTF-8)."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages ("got null", not "NoneType")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A ``json.loads`` object hook refusing a key given twice (which value would count is
    anyone's guess): raises ``ValueError`` naming the key."""
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} is given twice")
        found[key] = value
    return found
