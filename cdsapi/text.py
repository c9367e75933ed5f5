"""Text every input path refuses alike."""

import unicodedata


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, which PostgreSQL cannot store and
    raises on deep inside a query, or any other) or an unpaired surrogate (which no
    database can store as UTF-8)."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


# Letters that show as blank space (Hangul fillers); with the format characters (Cf: bidi
# controls such as U+202E, zero-width ones, soft hyphen, tags) they make text read otherwise.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def has_invisible_characters(text: str) -> bool:
    """Whether ``text`` holds a control, format (bidirectional, zero-width, tag) or blank
    letter character: anything that would make a page showing it read differently."""
    return has_control_characters(text) or any(
        unicodedata.category(c) == "Cf" or c in _BLANK_LETTERS for c in text
    )


def strings_in(value: object) -> list[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return []


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
