"""How a document is wrong: a list of errors in document order, each a JSON path and a reason.

Checks report into an ``ErrorCollector``, which keeps the first ``limit`` errors and stops the
check (raising ``DocumentError``) when one more arrives; a check stage ends with
``raise_if_any``. Nothing here depends on how the document is read.
"""

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

DEFAULT_MAX_ERRORS = 50

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

Error = tuple[str, str]  # (JSON path, message)


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
    """A document cannot be imported.

    ``errors`` lists what is wrong as (path, message) pairs in document order; ``path`` and
    ``message`` are the first. ``more`` counts errors found but not listed; ``stopped`` says
    checking stopped at the limit, so there are more than were counted.
    """

    def __init__(self, path: str, message: str) -> None:
        self._set([(path, message)], more=0, stopped=False)

    @classmethod
    def many(cls, errors: Iterable[Error], more: int = 0, stopped: bool = False) -> "DocumentError":
        errors = list(errors)
        if not errors:
            raise ValueError("a DocumentError needs at least one error")
        self = cls.__new__(cls)
        self._set(errors, more=more, stopped=stopped)
        return self

    def _set(self, errors: list[Error], more: int, stopped: bool) -> None:
        self.errors = errors
        self.more = more
        self.stopped = stopped
        super().__init__(self._render())

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self.errors, self.more, self.stopped)

    @property
    def path(self) -> str:
        return self.errors[0][0]

    @property
    def message(self) -> str:
        return self.errors[0][1]

    def _render(self) -> str:
        """One error as ``path: message`` (as always); several as a count and one per line."""
        if len(self.errors) == 1 and not self.more and not self.stopped:
            return f"{self.path}: {self.message}"
        shown = len(self.errors)
        if self.stopped:
            head = f"more than {shown + self.more} errors"
        else:
            head = f"{shown + self.more} errors"
        lines = [f"{head}:", *(f"  {path}: {message}" for path, message in self.errors)]
        if self.stopped:
            lines.append(f"  ... and more (checking stopped at the limit of {shown + self.more})")
        elif self.more:
            lines.append(f"  ... and {self.more} more")
        return "\n".join(lines)

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, data: Any = None, limit: int | None = None
    ) -> "DocumentError":
        """Every error pydantic found, in the order of ``data`` (the validated input) when
        given; past ``limit`` they are counted, not listed."""
        found = validation_errors(exc, data)
        shown = found if limit is None else found[:limit]
        return cls.many(shown, more=len(found) - len(shown))


def _rebuild(errors: list[Error], more: int, stopped: bool) -> DocumentError:
    return DocumentError.many(errors, more=more, stopped=stopped)


class ErrorCollector:
    """Collects a document's errors, in the order the checks find them, up to ``limit``.

    ``add`` records one; the first past the limit raises ``DocumentError`` at once (checking
    stops there, and the report ends "and more"). ``raise_if_any`` ends a stage of checks.
    """

    def __init__(self, limit: int = DEFAULT_MAX_ERRORS) -> None:
        if limit < 1:
            raise ValueError("the error limit must be at least 1")
        self.limit = limit
        self.errors: list[Error] = []

    def add(self, path: str, message: str) -> None:
        if len(self.errors) >= self.limit:
            raise DocumentError.many(self.errors, stopped=True)
        self.errors.append((path, message))

    def __len__(self) -> int:
        return len(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DocumentError.many(self.errors)


def validation_message(error: dict[str, Any]) -> str:
    """A clear reason for one pydantic error."""
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
    if kind == "literal_error":
        return f"{error['msg'].replace('Input should be', 'expected')}, got {error['input']!r}"
    return _MESSAGES.get(kind, error["msg"])


def validation_errors(
    exc: ValidationError, data: Any = None, prefix: tuple[Any, ...] = ()
) -> list[Error]:
    """Every error of ``exc`` as (path, message), in document order when ``data`` is given;
    ``prefix`` is where the validated value is in its document (for one object of a list).

    pydantic reports fields in the model's order; ``data`` (the parsed JSON, whose objects keep
    their keys' order) says where each one is in the document. A missing field sorts at the end
    of its object."""
    found = exc.errors(include_url=False)
    if data is not None:
        found.sort(key=lambda error: _position(data, error["loc"]))
    return [(json_path((*prefix, *error["loc"])), validation_message(error)) for error in found]


def _position(data: Any, loc: tuple[Any, ...]) -> tuple[int, ...]:
    """Where ``loc`` falls in ``data``: per level, a list index or a key's rank in its object."""
    position = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            keys = list(node)
            if part not in node:
                position.append(len(keys))
                break
            position.append(keys.index(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            position.append(part)
            node = node[part]
        else:
            break
    return tuple(position)
