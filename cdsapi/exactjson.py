"""JSON that keeps decimals exact.

CDS decimals are JSON numbers whose digits must survive untouched (``0.40`` stays ``0.40``).
The standard library parses them into binary floats and cannot write a ``Decimal`` as a
number literal, so every JSON read and write of CDS data goes through these helpers.
"""

import json
from decimal import Decimal
from typing import Any

import simplejson


def loads(text: str | bytes) -> Any:
    """Parse JSON, turning every non-integer number into an exact ``Decimal``."""
    return simplejson.loads(text, use_decimal=True)


def dumps(value: Any, **kwargs: Any) -> str:
    """Serialize to compact JSON, writing ``Decimal`` values as exact number literals."""
    kwargs.setdefault("separators", (",", ":"))
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, **kwargs)


class ExactJSONEncoder(simplejson.JSONEncoder):
    """Encoder class for ``JSONField(encoder=...)``; Django calls it through ``json.dumps``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["use_decimal"] = True
        super().__init__(*args, **kwargs)


class ExactJSONDecoder(json.JSONDecoder):
    """Decoder class for ``JSONField(decoder=...)``: non-integer numbers become ``Decimal``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parse_float"] = Decimal
        super().__init__(*args, **kwargs)
