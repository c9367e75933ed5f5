"""Checking a segment's value sets against its formats."""

from decimal import Decimal
from typing import Any

from cdsapi import enums
from cdsapi.importer.errors import DocumentError
from cdsapi.importer.types import to_decimal

_SUPPLY_MIX_EXTRAS = {"ci", "eacs"}


def _number(value: Any, path: str) -> Decimal:
    if type(value) is Decimal:
        return value
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise DocumentError(path, str(exc)) from None


def _value_object(obj: Any, key: str, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DocumentError(path, f'expected a value object such as {{"{key}": ...}} or null')
    if key not in obj:
        raise DocumentError(path, f"expected the key {key!r} for this position's format")
    allowed = {key} | (_SUPPLY_MIX_EXTRAS if key == "sm" else set())
    extra = set(obj) - allowed
    if extra:
        raise DocumentError(f"{path}.{sorted(extra)[0]}", "unknown field for this format")
    if key == "r":
        if not isinstance(obj["r"], str):
            raise DocumentError(f"{path}.r", "expected a meter reading as a string")
        return obj
    result = {key: _number(obj[key], f"{path}.{key}")}
    if key == "sm":
        if not Decimal(0) <= result["sm"] <= Decimal(1):
            raise DocumentError(f"{path}.sm", "expected a ratio between 0 and 1")
        if "ci" in obj:
            result["ci"] = _number(obj["ci"], f"{path}.ci")
        if "eacs" in obj:
            eacs = obj["eacs"]
            if not isinstance(eacs, list) or not all(isinstance(e, str) for e in eacs):
                raise DocumentError(f"{path}.eacs", "expected a list of cds_eac_id strings")
            result["eacs"] = eacs
    return result


def check_values(values: list[list[Any]], format_types: list[str], path: str) -> list[list[Any]]:
    """Validate ``values`` position by position; return them with every number a ``Decimal``."""
    keys = [enums.VALUE_KEYS[t] for t in format_types]
    width = len(keys)
    checked = []
    for i, value_set in enumerate(values):
        if len(value_set) != width:
            raise DocumentError(
                f"{path}[{i}]", f"expected {width} values (one per format), got {len(value_set)}"
            )
        row = []
        for k, obj in enumerate(value_set):
            row.append(None if obj is None else _value_object(obj, keys[k], f"{path}[{i}][{k}]"))
        checked.append(row)
    return checked
