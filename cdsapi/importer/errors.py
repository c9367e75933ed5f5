"""One error type for every way a document can be wrong, always with a JSON path."""

from typing import Any

from pydantic import ValidationError

_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "list_type": "expected a list",
    "model_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "string_pattern_mismatch": "does not have the expected format",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
}


def json_path(parts: tuple[Any, ...] | list[Any]) -> str:
    """Render a location such as ``("usage_segments", 12, "values", 3)`` as
    ``usage_segments[12].values[3]``."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "$"


class DocumentError(Exception):
    """A document cannot be imported; ``path`` says where, ``message`` says what is wrong."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> "DocumentError":
        first = exc.errors(include_url=False)[0]
        kind = first["type"]
        if kind == "value_error":
            message = str(first["ctx"]["error"]) if "ctx" in first else first["msg"]
        elif kind == "literal_error":
            message = (
                f"{first['msg'].replace('Input should be', 'expected')}, got {first['input']!r}"
            )
        else:
            message = _MESSAGES.get(kind, first["msg"])
        return cls(json_path(first["loc"]), message)
