"""Request bodies: JSON objects read strictly, so that bad input is a 400 that says what was
wrong (never a 500, never Python's own wording)."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH_MESSAGE = "the JSON is nested too deeply"


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ParseError(f"the key {key!r} is given twice")
        found[key] = value
    return found


class StrictJSONParser(JSONParser):
    """JSON bodies in UTF-8: no key given twice, no nesting deep enough to exhaust the
    parser, numbers of sane size."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            text = stream.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("the body is not UTF-8") from None
        try:
            return json.loads(text, object_pairs_hook=_unique)
        except RecursionError:
            raise ParseError(MAX_DEPTH_MESSAGE) from None
        except ValueError as exc:
            reason = str(exc).split(";")[0] if "digits" not in str(exc) else "a number is too long"
            raise ParseError(f"the body is not valid JSON ({reason})") from None
