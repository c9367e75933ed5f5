"""Request bodies: JSON objects read strictly, so that bad input is a 400 that says what was
wrong (never a 500, never Python's own wording)."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from cdsapi.text import unique_keys


class StrictJSONParser(JSONParser):
    """JSON bodies in UTF-8: no key given twice (``unique_keys``), no nesting deep enough to
    exhaust the parser, numbers of sane size."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            text = stream.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("the body is not UTF-8") from None
        try:
            return json.loads(text, object_pairs_hook=unique_keys)
        except RecursionError:
            raise ParseError("the JSON is nested too deeply") from None
        except ValueError as exc:
            reason = str(exc).split(";")[0] if "digits" not in str(exc) else "a number is too long"
            raise ParseError(f"the body is not valid JSON ({reason})") from None
