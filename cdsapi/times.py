"""Dates and instants as the whole system reads and writes them: the import, the grant core
and the API share these, so a date means the same thing everywhere."""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Instants every part of the system (databases, serializers, calendar arithmetic) round-trips.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

OUT_OF_RANGE = f"is out of range (from {EARLIEST.year} to {LATEST.year - 1})"


def in_range(moment: datetime | date) -> bool:
    """Whether an instant (or a day) lies between ``EARLIEST`` and ``LATEST``."""
    if isinstance(moment, datetime):
        return EARLIEST <= moment < LATEST
    return EARLIEST.date() <= moment < LATEST.date()


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FRACTION = re.compile(r"T[\d:]+\.(\d+)")


def to_date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a calendar date: {value!r}") from None


def to_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or not _DATETIME_RE.match(value):
        raise ValueError(
            f"expected an RFC 3339 datetime with timezone (2024-01-01T00:00:00Z), got {value!r}"
        )
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        raise ValueError(f"not a valid datetime: {value!r}") from None
    except OverflowError:
        raise ValueError(f"out of range once converted to UTC: {value!r}") from None


def format_datetime(moment: datetime) -> str:
    """RFC 3339 in UTC, with the fraction of a second when there is one (never rounded)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return f"{utc.isoformat(timespec='seconds')}{fraction}Z"


def exact_instant(value: str, sign: int) -> datetime:
    """An absolute datetime bound, exact to the microsecond. Finer digits are cut, which
    would move a start (``sign`` -1) earlier: a start is rounded up instead, so a bound is
    never widened."""
    moment = to_datetime(value)
    fraction = _FRACTION.search(value)
    if sign < 0 and fraction and fraction.group(1)[6:].strip("0"):
        moment += timedelta(microseconds=1)
    return moment
