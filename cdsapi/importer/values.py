"""Checking a segment's value sets against its formats."""

import re
from decimal import Decimal
from itertools import compress, repeat
from operator import is_not, itemgetter, methodcaller
from typing import Any, NamedTuple

from cdsapi import enums
from cdsapi.importer.errors import ErrorCollector
from cdsapi.importer.types import to_decimal

_SUPPLY_MIX_EXTRAS = {"ci", "eacs"}


def _number(value: Any, path: str, errors: ErrorCollector) -> Decimal | None:
    try:  # a JSON number too: its range is checked and it is stored in canonical form
        return to_decimal(value)
    except ValueError as exc:
        errors.add(path, str(exc))
        return None


def _value_object(obj: Any, key: str, path: str, errors: ErrorCollector) -> dict[str, Any]:
    if not isinstance(obj, dict):
        errors.add(path, f'expected a value object such as {{"{key}": ...}} or null')
        return {}
    if key not in obj:
        errors.add(path, f"expected the key {key!r} for this position's format")
        return {}
    allowed = {key} | (_SUPPLY_MIX_EXTRAS if key == "sm" else set())
    for name in obj:
        if name not in allowed:
            errors.add(f"{path}.{name}", "unknown field for this format")
    if key == "r":
        if not isinstance(obj["r"], str):
            errors.add(f"{path}.r", "expected a meter reading as a string")
        return obj
    result = {key: _number(obj[key], f"{path}.{key}", errors)}
    if key == "sm":
        ratio = result["sm"]
        if ratio is not None and not Decimal(0) <= ratio <= Decimal(1):
            errors.add(f"{path}.sm", "expected a ratio between 0 and 1")
        if "ci" in obj:
            result["ci"] = _number(obj["ci"], f"{path}.ci", errors)
        if "eacs" in obj:
            eacs = obj["eacs"]
            if not isinstance(eacs, list) or not all(isinstance(e, str) for e in eacs):
                errors.add(f"{path}.eacs", "expected a list of cds_eac_id strings")
            result["eacs"] = eacs
    return result


def check_values(
    values: list[list[Any]], format_types: list[str], path: str, errors: ErrorCollector
) -> list[list[Any]]:
    """Validate ``values`` position by position, reporting every problem to ``errors``; return
    them with every number a ``Decimal`` (meaningful only when nothing was reported)."""
    keys = [enums.VALUE_KEYS[t] for t in format_types]
    width = len(keys)
    checked = []
    for i, value_set in enumerate(values):
        if len(value_set) != width:
            errors.add(
                f"{path}[{i}]", f"expected {width} values (one per format), got {len(value_set)}"
            )
            continue
        row = []
        for k, obj in enumerate(value_set):
            row.append(
                None if obj is None else _value_object(obj, keys[k], f"{path}[{i}][{k}]", errors)
            )
        checked.append(row)
    return checked


# Value keys whose objects hold one number and nothing else.
_PLAIN_KEYS = frozenset(enums.VALUE_KEYS.values()) - {"r", "sm"}
_NUMBER_TYPES = frozenset((Decimal, int))
_NEGATIVE_ZERO = re.compile(r" -0(?:\.0*)? ")


_NUMBER_CHARS = str.maketrans("", "", "0123456789.- ")


def _plain_numbers(texts: list[str]) -> bool:
    """Whether number texts are stored exactly as written: digits, point and sign only (no
    exponent), at most 100 characters, no negative zero (stored as zero), and nothing
    ``str(Decimal)`` would write with an exponent (``0.0000001``; ``0.000000`` is left to
    the long way too)."""
    joined = " ".join(texts)
    return not (
        joined.translate(_NUMBER_CHARS)
        or (texts and max(map(len, texts)) > 100)
        or "0.000000" in joined
        or ("-0" in joined and _NEGATIVE_ZERO.search(f" {joined} "))
    )


class Plain(NamedTuple):
    """Value sets found plain: as stored (``exactjson.dumps`` of what ``check_values``
    returns), each format's non-null numbers (what ``totals`` reads), and how many sets."""

    text: str
    columns: list[list[Decimal]]
    count: int


def plain_values(values: Any, keys: list[str]) -> Plain | None:
    """The common case of ``check_values``, column by column in C-level loops: every value
    set a list of ``len(keys)`` entries, each ``null`` or ``{key: number}`` with a plain
    number (an integer, or a decimal without exponent, of at most 100 characters).

    ``None`` for anything else, which ``check_values`` then checks and reports.
    """
    if type(values) is not list or not all(k in _PLAIN_KEYS for k in keys):
        return None
    if not values:
        return Plain("[]", [[] for _ in keys], 0)
    if set(map(type, values)) != {list} or set(map(len, values)) != {len(keys)}:
        return None
    texts, numbers = [], []
    for key, column in zip(keys, zip(*values, strict=True), strict=True):
        present = list(filter(None, column))
        nulls = column.count(None)
        if len(present) + nulls != len(column):
            return None  # a falsy entry other than null ({}, 0, "", [])
        if present and (set(map(type, present)) != {dict} or set(map(len, present)) != {1}):
            return None
        try:
            found = list(map(itemgetter(key), present))
        except KeyError:
            return None
        kinds = set(map(type, found))
        if not kinds <= _NUMBER_TYPES:
            return None
        if int in kinds:
            found = list(map(Decimal, found))
        strings = list(map(str, found))
        if not _plain_numbers(strings):
            return None
        objects = list(map(f'{{"{key}":%s}}'.__mod__, strings))
        if nulls:
            spread = ["null"] * len(column)
            where = compress(range(len(column)), map(is_not, column, repeat(None)))
            for at, text in zip(where, objects, strict=True):
                spread[at] = text
            objects = spread
        texts.append(objects)
        numbers.append(found)
    rows = texts[0] if len(texts) == 1 else list(map(",".join, zip(*texts, strict=True)))
    return Plain("[[" + "],[".join(rows) + "]]", numbers, len(values))


def plain_json(raw: bytes, keys: list[str]) -> Plain | None:
    """``plain_values`` of a segment's values given as JSON text that msgspec has found
    valid (``stream._shells``), checked without parsing it: without its whitespace, the text
    is already what ``check_values`` would store when it splits into value sets of ``null``
    and ``{"key":number}`` objects, in this order of keys, with plain numbers only (digits,
    point and sign: no exponent, no negative zero, nothing ``str(Decimal)`` would write
    with an exponent). ``None`` for anything else (then parse and check it)."""
    if not all(k in _PLAIN_KEYS for k in keys):
        return None
    # Every string must be one of the keys, written plainly: whitespace is then only between
    # tokens, and taking it out changes nothing but the spacing ("e u" must stay refused).
    quoted = sum(raw.count(b'"' + k.encode() + b'"') for k in set(keys))
    if 2 * quoted != raw.count(b'"'):
        return None
    text = raw.translate(None, b" \t\n\r").decode()
    if text == "[]":
        return Plain(text, [[] for _ in keys], 0)
    if not (text.startswith("[[") and text.endswith("]]")):
        return None
    rows = text[2:-2].split("],[")
    width = len(keys)
    if width == 1:
        flat = rows
    elif set(map(methodcaller("count", ","), rows)) == {width - 1}:
        flat = ",".join(rows).split(",")
    else:
        return None
    columns = []
    for k, key in enumerate(keys):
        column = flat[k::width] if width > 1 else flat
        head = f'{{"{key}":'
        objects = list(filter("null".__ne__, column))
        if objects and (
            set(map(itemgetter(slice(0, len(head))), objects)) != {head}
            or set(map(itemgetter(-1), objects)) != {"}"}
        ):
            return None
        numbers = list(map(itemgetter(slice(len(head), -1)), objects))
        if not _plain_numbers(numbers):
            return None
        columns.append(list(map(Decimal, numbers)))
    return Plain(text, columns, len(rows))
