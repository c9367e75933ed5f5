"""Scalar types of the import schema, strict enough that every error names what was wrong.

Numbers arrive as ``Decimal`` (the document is parsed with ``cdsapi.exactjson.loads``) or as
numeric strings; floats never appear. Dates nested inside JSON-stored objects stay strings,
since they are served back verbatim.
"""

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainValidator, StringConstraints

from cdsapi.exactjson import canonical
from cdsapi.text import json_type
from cdsapi.times import OUT_OF_RANGE, in_range, to_date, to_datetime

# A numeric string is written as a JSON number is (``1E+3``, ``-0.40``; not ``+1``, ``.5``,
# ``1_000``, `` 2`` or ``01``).
_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ID_REFUSES = re.compile(r"[\s~]")  # str.isspace() and \s agree on every character
# Stored decimals keep their digits exactly; a magnitude beyond this is no meter's or bill's.
MAX_EXPONENT = 100


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, str):
        if not value.strip().isascii():
            raise ValueError(f"expected a number in ASCII digits, got the string {value!r}")
        if not _NUMBER_TEXT.fullmatch(value):
            try:
                special = not Decimal(value.strip()).is_finite()
            except InvalidOperation:
                special = False
            if special:
                raise ValueError(f"expected a finite number, got {value!r}")
            raise ValueError(f"expected a number, got the string {value!r}")
        result = Decimal(value)
    else:
        raise ValueError(f"expected a number, got {json_type(value)}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    if result and not -MAX_EXPONENT <= result.adjusted() <= MAX_EXPONENT:
        raise ValueError(f"{value!r} is out of range (at most 10^{MAX_EXPONENT} in size)")
    return canonical(result)


def stored_datetime(value: Any) -> datetime:
    """A datetime to store: one the rest of the system can compute with."""
    if isinstance(value, str):
        return _stored_datetime(value)  # a document repeats its instants many times
    return _stored_datetime.__wrapped__(value)


@lru_cache(maxsize=4096)
def _stored_datetime(value: Any) -> datetime:
    moment = to_datetime(value)
    if not in_range(moment):
        raise ValueError(f"{value!r} {OUT_OF_RANGE}")
    return moment


def date_string(value: Any) -> str:
    to_date(value)
    return value


def datetime_string(value: Any) -> str:
    return to_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_decimal_or_string(value: Any) -> Decimal | str:
    """For fields the spec types "decimal or string": a number, or a numeric string (kept
    exact, served as a number, like every decimal); any other text stays text."""
    if isinstance(value, str):
        try:
            return to_decimal(value)
        except ValueError:
            return to_string(value)
    return to_decimal(value)


def to_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {json_type(value)}")
    if "\x00" in value:
        raise ValueError("a NUL character cannot be stored")
    if _SURROGATE.search(value):
        raise ValueError("an unpaired surrogate (\\ud800-\\udfff) cannot be stored")
    return value


def to_id(value: Any) -> str:
    """An id: no whitespace (lists of ids are space-separated) and no ``~`` (which marks the
    pieces of a segment the server trims)."""
    if isinstance(value, str):
        return _to_id(value)  # a document repeats the ids it references many times
    return _to_id.__wrapped__(value)


@lru_cache(maxsize=4096)
def _to_id(value: Any) -> str:
    text = to_string(value)
    if _ID_REFUSES.search(text):
        raise ValueError(f"an id may hold no whitespace and no '~', got {text!r}")
    return text


CdsDecimal = Annotated[Decimal, BeforeValidator(to_decimal)]
DecimalOrStr = Annotated[Decimal | str, PlainValidator(to_decimal_or_string)]
CdsDate = Annotated[date, BeforeValidator(to_date)]
CdsDateTime = Annotated[datetime, BeforeValidator(stored_datetime)]
DateStr = Annotated[str, BeforeValidator(date_string)]
DateTimeStr = Annotated[str, BeforeValidator(datetime_string)]
Str = Annotated[str, BeforeValidator(to_string)]
Id = Annotated[str, BeforeValidator(to_id), StringConstraints(min_length=1, max_length=128)]
Username = Annotated[
    str, BeforeValidator(to_string), StringConstraints(pattern=r"^[\w.@+-]{1,150}$")
]
Currency = Annotated[str, BeforeValidator(to_string), StringConstraints(pattern=r"^[A-Z]{3}$")]


def _array_not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("expected an array, got null (leave the key out when there is none)")
    return value


class ListOrAbsent:
    """``ListOrAbsent[T]``: an optional array that may be left out but is never ``null``
    (serving relies on a present array being an array)."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[list[item] | None, BeforeValidator(_array_not_null)]


def one_of(values: tuple[str, ...]) -> Any:
    """A ``Literal`` type admitting exactly the given enumeration values."""
    return Literal[values]
