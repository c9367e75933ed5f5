"""JSON that keeps decimals exact.

CDS decimals are JSON numbers whose digits must survive untouched (``0.40`` stays ``0.40``).
The standard library parses them into binary floats and cannot write a ``Decimal`` as a
number literal, so every JSON read and write of CDS data goes through these helpers.
"""

import json
from decimal import Context, Decimal
from typing import Any

import simplejson

MAX_STORED_DIGITS = 131_072  # PostgreSQL's numeric: digits before the point


def canonical(value: Decimal) -> Decimal:
    """The form both databases store: no positive exponent (``1E+3`` is ``1000``) and no
    negative zero (``-0.00`` is ``0.00``). Every other digit, trailing zeros included, stays."""
    if value.as_tuple().exponent > 0:
        if value.adjusted() > MAX_STORED_DIGITS:
            raise ValueError(f"{value} has too many digits to store")
        # Enough precision for every digit (the default context keeps 28).
        value = value.quantize(Decimal(1), context=Context(prec=value.adjusted() + 1))
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return value


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
