"""Building usage data through the real import (so totals and series are what production has)."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cdsapi import exactjson
from cdsapi.importer.loader import load_document, parse_document

LA = ZoneInfo("America/Los_Angeles")
META = {
    "cds_created": "2025-01-01T00:00:00Z",
    "cds_modified": "2025-01-01T00:00:00Z",
    "cds_synced": "2025-01-01T00:00:00Z",
}
KWH = {"id": "kwh", "type": "electric_usage", "units": "kWh", "direction": "forward"}


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LA).astimezone(UTC)


def segment(
    ident: str,
    start: datetime,
    values: list[list[Any]],
    formats: list[dict] | None = None,
    interval: int = 900,
    account: str = "acc-u",
    meter: str = "md-u",
) -> dict[str, Any]:
    return {
        "cds_usagesegment_id": ident,
        **META,
        "cds_account_id": account,
        "cds_meterdevice_id": meter,
        "related_accounts": [account],
        "related_meterdevices": [meter],
        "segment_start": utc(start),
        "segment_end": utc(start + timedelta(seconds=interval * len(values))),
        "interval": interval,
        "formats": formats or [KWH],
        "values": values,
    }


def daily_segments(first: date, days: int, value: Any = Decimal(1), **kwargs: Any) -> list[dict]:
    """One segment per local (Los Angeles) day of 15-minute values, all equal to ``value``."""
    found = []
    for n in range(days):
        day = first + timedelta(days=n)
        start, end = local_midnight(day), local_midnight(day + timedelta(days=1))
        count = int((end - start).total_seconds()) // 900
        found.append(segment(f"us-{day.isoformat()}", start, [[{"eu": value}]] * count, **kwargs))
    return found


def load_usage(
    segments: list[dict],
    accounts: tuple[str, ...] = ("acc-u",),
    meters: tuple[str, ...] = ("md-u",),
    timezone: str = "America/Los_Angeles",
) -> None:
    doc = {
        "accounts": [{"cds_account_id": a, **META, "account_number": f"N-{a}"} for a in accounts],
        "service_contracts": [
            {
                "cds_servicecontract_id": f"sc-{a}",
                **META,
                "cds_account_id": a,
                "contract_types": ["utility_service"],
                "contract_status": "active",
                "service_types": ["electric"],
            }
            for a in accounts
        ],
        "service_points": [
            {
                "cds_servicepoint_id": f"sp-{a}",
                **META,
                "servicepoint_types": ["electric"],
                "current_servicecontracts": [f"sc-{a}"],
                "timezone": timezone,
            }
            for a in accounts
        ],
        "meter_devices": [
            {
                "cds_meterdevice_id": m,
                **META,
                "meter_types": ["ami_meter"],
                "current_servicepoints": [f"sp-{a}"],
            }
            for a, m in zip(accounts, meters, strict=True)
        ],
        "usage_segments": segments,
    }
    load_document(parse_document(exactjson.dumps(doc)))
