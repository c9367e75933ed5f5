"""Checking a segment's value sets against its formats."""

from decimal import Decimal
from typing import Any

from cdsapi import enums
from cdsapi.importer.errors import ErrorCollector
from cdsapi.importer.types import to_decimal

_SUPPLY_MIX_EXTRAS = {"ci", "eacs"}


def _number(value: Any, path: str, errors: ErrorCollector) -> Decimal | None:
    if type(value) is Decimal:
        return value
    try:
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
