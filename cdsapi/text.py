"""Text every input path refuses alike."""

import unicodedata


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character: NUL, which PostgreSQL cannot store and
    raises on deep inside a query, or any other."""
    return any(unicodedata.category(c) == "Cc" for c in text)
