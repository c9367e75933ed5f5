"""Text every input path refuses alike."""

import unicodedata


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, which PostgreSQL cannot store and
    raises on deep inside a query, or any other) or an unpaired surrogate (which no
    database can store as UTF-8)."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)
