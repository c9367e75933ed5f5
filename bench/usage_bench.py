"""The data set of ``make bench`` (``bench/api_bench.py``) and ``make bench-scale``.

50 accounts, each with an electric service (contract, point, meter) and a gas one, and two
years of monthly bill statements with one section each. One electric meter has two years of
15-minute net-metered data, the others one month (June 2025) each.
"""

import os
import random
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LA = ZoneInfo("America/Los_Angeles")
FIRST_DAY = date(2024, 11, 1)
DAYS = 730
MONTH = (date(2025, 6, 1), date(2025, 7, 1))
METERS = 50
ENTITY = {
    "id": "ent-bench",
    "types": ["distributor", "supplier"],
    "entity_number": "US-XX-BENCH",
    "entity_name": "Bench Power",
    "entity_abbreviation": "BP",
}
RUNS = int(os.environ.get("BENCH_RUNS", "25"))
WARMUP = 5


def bench_database() -> str:
    """A database of the benchmark's own, next to the one DATABASE_URL names."""
    url = os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        path = ROOT / "var" / "bench.sqlite3"
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        # The access log's own file next to it (cdsapi/settings.py), and the WAL files.
        for stale in (
            "bench-accesslog.sqlite3",
            "bench-accesslog.sqlite3-wal",
            "bench-accesslog.sqlite3-shm",
        ):
            (path.parent / stale).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    bench_name = f"{name.split('?')[0]}_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(bench_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(bench_name)))
    return f"{base}/{bench_name}"


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=LA).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_values(rng: random.Random, day: date) -> list[list[dict[str, Decimal]]]:
    """A day of 15-minute net/forward/reverse kWh for a home with rooftop solar."""
    start, end = local_midnight(day), local_midnight(day + timedelta(days=1))
    rows = []
    for i in range(int((end - start).total_seconds()) // 900):
        hour = (start + timedelta(minutes=15 * i)).astimezone(LA).hour
        use = rng.randint(50, 400) + (300 if 17 <= hour <= 21 else 0)
        solar = rng.randint(0, 900) if 8 <= hour <= 17 else 0
        net = use - solar
        forward, reverse = (net, 0) if net >= 0 else (0, net)
        rows.append([{"eu": Decimal(v).scaleb(-3)} for v in (net, forward, reverse)])
    return rows


def gas(doc: dict[str, list], m: int, acc: str, meta: dict[str, str]) -> None:
    """A gas service without interval data: a second contract, point and meter."""
    sc, sp, md = f"sc-g{m:02d}", f"sp-g{m:02d}", f"md-g{m:02d}"
    doc["service_contracts"].append(
        {
            "cds_servicecontract_id": sc,
            **meta,
            "cds_account_id": acc,
            "contract_number": f"G{m:05d}",
            "contract_types": ["utility_service"],
            "contract_status": "active",
            "service_types": ["natural_gas"],
        }
    )
    doc["service_points"].append(
        {
            "cds_servicepoint_id": sp,
            **meta,
            "servicepoint_number": f"GP{m:05d}",
            "servicepoint_types": ["natural_gas"],
            "current_servicecontracts": [sc],
            "timezone": "America/Los_Angeles",
        }
    )
    doc["meter_devices"].append(
        {
            "cds_meterdevice_id": md,
            **meta,
            "meter_number": f"GM{m:05d}",
            "meter_types": ["natural_gas_usage"],
            "current_servicepoints": [sp],
        }
    )


def bills(
    doc: dict[str, list], m: int, acc: str, sc: str, sp: str, md: str, meta: dict[str, str]
) -> None:
    """24 monthly statements, each with one section shaped like a real bill's."""
    for n in range(24):
        month = date(2024 + (10 + n) // 12, (10 + n) % 12 + 1, 1)
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        key = f"{m:02d}-{month:%Y-%m}"
        start, end = month.isoformat(), (following - timedelta(days=1)).isoformat()
        usage = Decimal(500 + 7 * n + m)
        fixed, energy = Decimal("12.00"), (usage * Decimal("0.31")).quantize(Decimal("0.01"))
        tax = ((fixed + energy) * Decimal("0.0425")).quantize(Decimal("0.01"))
        total = fixed + energy + tax
        statement_id = f"bst-{key}"
        doc["bill_sections"].append(
            {
                "cds_billsection_id": f"bsec-{key}",
                **meta,
                "cds_billstatement_id": statement_id,
                "cds_account_id": acc,
                "section_types": ["service_contract", "electric", "distribution", "supply"],
                "start_date": start,
                "end_date": end,
                "currency": "USD",
                "distribution_entity": ENTITY,
                "supply_entity": ENTITY,
                "related_servicecontracts": [sc],
                "related_servicepoints": [sp],
                "related_meterdevices": [md],
                "related_billsections": [],
                "usage_details": [
                    {
                        "id": f"ud-{key}",
                        "name": "Total kWh",
                        "types": ["electric_usage", "ami_reading"],
                        "value": usage,
                        "units": "kWh",
                        "start_date": start,
                        "end_date": end,
                    }
                ],
                "cost_details": [
                    {"id": f"cd-{key}-1", "name": "Total", "types": ["overall_total"]}
                    | {"cost": total},
                    {"id": f"cd-{key}-2", "name": "Taxes", "types": ["taxes"], "cost": tax},
                ],
                "line_items": [
                    {
                        "id": f"li-{key}-{k}",
                        "name": name,
                        "types": types,
                        "start_date": start,
                        "end_date": end,
                        "cost": cost,
                        "value": value,
                        "rate": rate,
                        "related_usage_details": [f"ud-{key}"] if value else [],
                        "related_cost_details": [f"cd-{key}-1"],
                        **({"units": "kWh"} if value else {}),
                    }
                    for k, (name, types, cost, value, rate) in enumerate(
                        [
                            ("Customer Charge", ["fixed_charge"], fixed, None, None),
                            ("Energy", ["usage_charge"], energy, usage, Decimal("0.31")),
                            ("Tax", ["tax"], tax, None, None),
                        ]
                    )
                ],
            }
        )
        doc["bill_statements"].append(
            {
                "cds_billstatement_id": statement_id,
                **meta,
                "cds_account_id": acc,
                "statement_date": following.replace(day=5).isoformat(),
                "currency": "USD",
                "previous_balance_amount": total,
                "previous_balance_paid": total,
                "previous_balance_unpaid": Decimal("0.00"),
                "new_charges_amount": total,
                "new_charges": [
                    {
                        "id": f"nc-{key}",
                        "name": "Electric Service Charges",
                        "types": ["electric_total"],
                        "amount": total,
                        "included_in_amount_due": True,
                        "related_billsections": [f"bsec-{key}"],
                    }
                ],
                "new_balance_amount": total,
                "amount_due": total,
                "amount_due_date": (following + timedelta(days=25)).isoformat(),
                "account_programs": [],
            }
        )


META = {
    "cds_created": "2024-10-01T00:00:00Z",
    "cds_modified": "2024-10-01T00:00:00Z",
    "cds_synced": "2026-11-01T00:00:00Z",
}
# Net, forward and reverse kWh every 15 minutes.
FORMATS = [
    {
        "id": f"elec-{d}-15m",
        "type": "electric_usage",
        "units": "kWh",
        "direction": d,
        "quality": "revenue",
    }
    for d in ("net", "forward", "reverse")
]


def day_segment(ids: tuple[str, ...], day: date, values: list) -> dict[str, Any]:
    """One local day of a meter's 15-minute values; ``ids``: account, contract, point, meter."""
    acc, sc, sp, md = ids
    start = local_midnight(day)
    return {
        "cds_usagesegment_id": f"us-{md}-{day.isoformat()}",
        **META,
        "related_accounts": [acc],
        "related_servicecontracts": [sc],
        "related_servicepoints": [sp],
        "related_meterdevices": [md],
        "segment_start": stamp(start),
        "segment_end": stamp(start + timedelta(seconds=900 * len(values))),
        "interval": 900,
        "formats": FORMATS,
        "values": values,
    }


def meter_objects(doc: dict[str, list], m: int, meta: dict[str, str]) -> tuple[str, ...]:
    """Meter ``m``'s account with its electric service (contract, point, meter), its gas
    service (``gas``) and its 24 bills (``bills``); returns the electric ids."""
    acc, sc, sp, md = f"acc-{m:02d}", f"sc-{m:02d}", f"sp-{m:02d}", f"md-{m:02d}"
    doc["accounts"].append({"cds_account_id": acc, **meta, "account_number": f"9{m:04d}"})
    doc["service_contracts"].append(
        {
            "cds_servicecontract_id": sc,
            **meta,
            "cds_account_id": acc,
            "contract_types": ["utility_service"],
            "contract_status": "active",
            "service_types": ["electric"],
        }
    )
    doc["service_points"].append(
        {
            "cds_servicepoint_id": sp,
            **meta,
            "servicepoint_types": ["electric"],
            "current_servicecontracts": [sc],
            "timezone": "America/Los_Angeles",
        }
    )
    doc["meter_devices"].append(
        {
            "cds_meterdevice_id": md,
            **meta,
            "meter_types": ["electric_usage", "bidirectional"],
            "current_servicepoints": [sp],
        }
    )
    gas(doc, m, acc, meta)
    bills(doc, m, acc, sc, sp, md, meta)
    return acc, sc, sp, md


def document() -> dict[str, Any]:
    doc: dict[str, list] = {
        k: []
        for k in (
            "accounts",
            "service_contracts",
            "service_points",
            "meter_devices",
            "bill_statements",
            "bill_sections",
            "usage_segments",
        )
    }
    for m in range(METERS):
        ids = meter_objects(doc, m, META)
        rng = random.Random(m)
        days = (
            range(DAYS)
            if m == 0
            else range((MONTH[0] - FIRST_DAY).days, (MONTH[1] - FIRST_DAY).days)
        )
        for n in days:
            day = FIRST_DAY + timedelta(days=n)
            doc["usage_segments"].append(day_segment(ids, day, day_values(rng, day)))
    return doc
