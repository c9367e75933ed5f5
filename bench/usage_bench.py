"""Usage serving benchmark (``make bench``): the endpoint against raw SQL on the same rows.

Builds its own data set in its own database (a SQLite file under var/, or ``<name>_bench``
on the PostgreSQL server ``DATABASE_URL`` names): 50 meters, one with two years of
15-minute net-metered data, one with only one month, the rest a month each. Each case is
warmed up, then timed over repeated runs; the table shows medians and the last line is JSON.
"""

import os
import random
import statistics
import sys
import time
import uuid
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


def document() -> dict[str, Any]:
    meta = {
        "cds_created": "2024-10-01T00:00:00Z",
        "cds_modified": "2024-10-01T00:00:00Z",
        "cds_synced": "2026-11-01T00:00:00Z",
    }
    formats = [
        {
            "id": f"elec-{d}-15m",
            "type": "electric_usage",
            "units": "kWh",
            "direction": d,
            "quality": "revenue",
        }
        for d in ("net", "forward", "reverse")
    ]
    doc: dict[str, list] = {
        k: []
        for k in (
            "accounts",
            "service_contracts",
            "service_points",
            "meter_devices",
            "usage_segments",
        )
    }
    for m in range(METERS):
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
        rng = random.Random(m)
        days = (
            range(DAYS)
            if m == 0
            else range((MONTH[0] - FIRST_DAY).days, (MONTH[1] - FIRST_DAY).days)
        )
        for n in days:
            day = FIRST_DAY + timedelta(days=n)
            values = day_values(rng, day)
            start = local_midnight(day)
            doc["usage_segments"].append(
                {
                    "cds_usagesegment_id": f"us-{md}-{day.isoformat()}",
                    **meta,
                    "related_accounts": [acc],
                    "related_servicecontracts": [sc],
                    "related_servicepoints": [sp],
                    "related_meterdevices": [md],
                    "segment_start": stamp(start),
                    "segment_end": stamp(start + timedelta(seconds=900 * len(values))),
                    "interval": 900,
                    "formats": formats,
                    "values": values,
                }
            )
    return doc


def median_ms(action: Any, runs: int = RUNS) -> float:
    for _ in range(WARMUP):
        action()
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples) * 1000


def main() -> None:
    os.environ["DATABASE_URL"] = bench_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accesslog.models import AccessLogEntry
    from accounts.models import Account
    from cdsapi import exactjson
    from cdsapi.grants import lifecycle
    from cdsapi.importer.loader import load_document, parse_document
    from cdsapi.models import Application

    call_command("migrate", verbosity=0)
    doc = document()
    value_sets = sum(len(seg["values"]) for seg in doc["usage_segments"])
    began = time.perf_counter()
    load_document(parse_document(exactjson.dumps(doc)))
    loaded = time.perf_counter() - began
    client_app = Application.objects.create(
        name="bench",
        client_id="bench",
        client_type="confidential",
        authorization_grant_type="client-credentials",
    )

    def token(account: str, **entry: str) -> str:
        grant = lifecycle.create_grant(client_app, [account], [{"type": "cds_usage", **entry}])
        return lifecycle.issue_token(grant)[0]

    http = Client()

    def endpoint(bearer: str, **params: Any) -> Any:
        def call() -> None:
            response = http.get(
                "/cds-customerdata-api/v1/usage-segments",
                params,
                HTTP_AUTHORIZATION=f"Bearer {bearer}",
            )
            assert response.status_code == 200, response.content[:300]

        return call

    big = Account.objects.get(cds_account_id="acc-00").pk

    def raw(sql: str, *args: Any) -> Any:
        def call() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                cursor.fetchall()

        return call

    month_start, month_end = local_midnight(MONTH[0]), local_midnight(MONTH[1])
    intervals = token("acc-00")
    monthly = token("acc-00", aggregation_type="monthly_aggregates")
    month_on_big = token("acc-00", segment_start=stamp(month_start), segment_end=stamp(month_end))
    month_on_small = token("acc-01", segment_start=stamp(month_start), segment_end=stamp(month_end))

    page = median_ms(endpoint(intervals, limit=100))
    page_raw = median_ms(
        raw(
            "SELECT * FROM usage_usagesegment WHERE account_id = %s "
            "ORDER BY segment_start LIMIT 100",
            big,
        )
    )
    months = median_ms(endpoint(monthly))
    months_raw = median_ms(
        raw(
            "SELECT * FROM usage_usagesegment WHERE account_id = %s ORDER BY segment_start",
            big,
        )
    )
    window_big = median_ms(endpoint(month_on_big))
    window_small = median_ms(endpoint(month_on_small))

    def log_insert() -> None:
        # The one INSERT the access log adds to every Customer Data API request.
        AccessLogEntry.objects.create(
            time=timezone.now(),
            client_id="bench",
            grant_id="g" * 32,
            method="GET",
            endpoint="usage-segments",
            query="limit=100",
            status=200,
            rows=100,
            duration_ms=7.5,
            request_id=uuid.uuid4().hex,
            accounts="acc-00",
        )

    log_p50 = median_ms(log_insert, runs=max(RUNS * 20, 200))

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            endpoint(intervals, limit=limit)()
        return len(captured)

    figures = {
        "database": connection.vendor,
        "intervals_page_ratio": round(page / page_raw, 2),
        "monthly_2y_ratio": round(months / months_raw, 2),
        "window_scaling": round(window_big / window_small, 2),
        "queries_page_10": queries(10),
        "queries_page_100": queries(100),
        "access_log_insert_p50_ms": round(log_p50, 3),
    }
    rows = [
        (f"import of the data set ({METERS} meters, {value_sets:,} value sets)", loaded * 1000),
        ("intervals: page of 100 daily segments, endpoint", page),
        ("intervals: the same 100 rows, raw SQL", page_raw),
        ("monthly_aggregates over two years, endpoint", months),
        ("monthly: all 730 stored rows, raw SQL", months_raw),
        ("one-month window, two-year meter, endpoint", window_big),
        ("one-month window, one-month meter, endpoint", window_small),
        ("access log: one row's INSERT (every API request)", log_p50),
    ]
    print(f"{'case':<58} {'median ms':>10}")
    for name, ms in rows:
        print(f"{name:<58} {ms:>10.2f}")
    print(f"(medians of {RUNS} runs after {WARMUP} warm-up runs; database {connection.vendor})")
    targets = {"intervals_page_ratio": 4.0, "monthly_2y_ratio": 2.0, "window_scaling": 1.3}
    for name, limit in targets.items():
        verdict = "ok" if figures[name] <= limit else "MISSED"
        print(f"{name:<24} {figures[name]:>6} (target <= {limit}) {verdict}")
    same = figures["queries_page_10"] == figures["queries_page_100"] <= 6
    print(
        f"queries per request      {figures['queries_page_10']} at 10, "
        f"{figures['queries_page_100']} at 100 (target: equal, <= 6) "
        f"{'ok' if same else 'MISSED'}"
    )
    log_ok = figures["access_log_insert_p50_ms"] <= 0.5
    print(
        f"access log insert p50 (ms) {figures['access_log_insert_p50_ms']} (target <= 0.5, "
        f"database {AccessLogEntry.objects.db}) {'ok' if log_ok else 'MISSED'}"
    )
    print(exactjson.dumps(figures))


if __name__ == "__main__":
    main()
