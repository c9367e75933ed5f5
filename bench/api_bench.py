"""API serving benchmark (``make bench``): every endpoint against raw SQL on the same rows.

Builds its own data set (``bench/usage_bench.py``) in its own database (a SQLite file under
var/, or ``<name>_bench`` on the PostgreSQL server ``DATABASE_URL`` names). For each
endpoint, a page of up to 100 items through the whole stack (Django's test client:
middleware, authentication, rate limit, policy, rendering, access log) is timed against
``raw + F``: a fixed SQL fetch of the rows it needs, in its order, plus F, the p50 of an
authenticated request to a no-op endpoint (``bench/noop.py``). Queries are counted at page
sizes 10 and 100, every connection included. ``--explain`` prints each denominator's SQL
and plan, and the plan of the endpoint's slowest query. The last line is one JSON object.
"""

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from usage_bench import (  # noqa: E402
    METERS,
    MONTH,
    bench_database,
    document,
    local_midnight,
    stamp,
)

RUNS = int(os.environ.get("BENCH_RUNS", "25"))
WARMUP = 5
API = "/cds-customerdata-api/v1/"
TARGET = 3.0
# Columns an aggregate reads of a segment: everything but the value sets.
LIGHT = (
    "s.id, s.account_id, s.meter_id, s.segment_start, s.segment_end, s.interval, "
    "s.totals_json, s.formats_json, s.related_json, s.cds_created, s.cds_modified, s.cds_synced"
)


@dataclass
class Case:
    """One endpoint: its request, and the fixed SQL of the rows it needs."""

    name: str
    path: str
    token: str
    params: dict[str, str]
    sql: str
    args: tuple[Any, ...]


def median_ms(action: Callable[[], Any], runs: int = RUNS) -> float:
    for _ in range(WARMUP):
        action()
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples) * 1000


def main() -> None:
    explain = "--explain" in sys.argv[1:]
    os.environ["DATABASE_URL"] = bench_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accesslog.models import AccessLogEntry
    from accounts.models import Account
    from cdsapi import exactjson
    from cdsapi.grants import lifecycle
    from cdsapi.importer.loader import load_document, parse_document
    from cdsapi.models import Application

    settings.ROOT_URLCONF = "noop"
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

    def token(accounts: list[str], *entries: dict[str, Any]) -> str:
        grant = lifecycle.create_grant(client_app, accounts, list(entries))
        return lifecycle.issue_token(grant)[0]

    everyone = [f"acc-{m:02d}" for m in range(METERS)]
    pks = list(
        Account.objects.filter(cds_account_id__in=everyone)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    big = Account.objects.get(cds_account_id="acc-00").pk
    among = f"IN ({', '.join(['%s'] * len(pks))})"
    agg = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    as_of = datetime(2026, 11, 1, tzinfo=UTC)

    def links(table: str, own: str, other: str, ident: str, alias: str) -> str:
        return (
            f"(SELECT {agg}(o.{ident}, ',') FROM {table} l JOIN accounts_{other} o "
            f"ON o.id = l.{other}_id WHERE l.{own}_id = {alias}.id)"
        )

    accounts = token(
        everyone,
        {
            "type": "cds_current_accounts_details",
            "fields": ["account_number", "account_name", "account_status"],
            "sync_date_end": stamp(as_of),
        },
    )
    services = token(
        everyone,
        {
            "type": "cds_meters_1",
            "include_meter_numbers": True,
            "include_service_contracts": True,
            "include_contract_numbers": True,
            "include_service_points": True,
        },
    )
    bills = token(
        everyone,
        {"type": "cds_bill_statements", "flavor": "full", "statement_date_start": "2020-01-01"},
    )
    intervals = token(["acc-00"], {"type": "cds_usage"})
    aggregates = {
        level: token(["acc-00"], {"type": "cds_usage", "aggregation_type": level})
        for level in ("hourly_aggregates", "daily_aggregates", "monthly_aggregates")
    }
    segment_order = "ORDER BY s.segment_start, s.cds_modified DESC, s.cds_usagesegment_id"
    cases = [
        Case(
            "accounts",
            "accounts",
            accounts,
            {},
            "SELECT v.*, a.cds_account_id, a.cds_synced FROM accounts_accountversion v "
            "JOIN accounts_account a ON a.id = v.account_id "
            f"WHERE v.account_id {among} AND v.id = (SELECT w.id FROM accounts_accountversion w "
            "WHERE w.account_id = v.account_id AND w.cds_modified <= %s "
            "ORDER BY w.cds_modified DESC LIMIT 1) "
            "ORDER BY v.cds_modified DESC, a.cds_account_id LIMIT 101",
            (*pks, connection.ops.adapt_datetimefield_value(as_of)),
        ),
        Case(
            "service_contracts",
            "service-contracts",
            services,
            {},
            "SELECT c.*, a.cds_account_id FROM accounts_servicecontract c "
            f"JOIN accounts_account a ON a.id = c.account_id WHERE c.account_id {among} "
            "ORDER BY c.cds_modified DESC, c.cds_servicecontract_id LIMIT 101",
            tuple(pks),
        ),
        Case(
            "service_points",
            "service-points",
            services,
            {},
            "SELECT p.*, "
            + links(
                "accounts_servicepoint_current_servicecontracts",
                "servicepoint",
                "servicecontract",
                "cds_servicecontract_id",
                "p",
            )
            + ", "
            + links(
                "accounts_servicepoint_previous_servicecontracts",
                "servicepoint",
                "servicecontract",
                "cds_servicecontract_id",
                "p",
            )
            + " FROM accounts_servicepoint p WHERE p.id IN (SELECT l.servicepoint_id "
            "FROM accounts_servicepoint_current_servicecontracts l JOIN accounts_servicecontract "
            f"c ON c.id = l.servicecontract_id WHERE c.account_id {among}) "
            "ORDER BY p.cds_modified DESC, p.cds_servicepoint_id LIMIT 101",
            tuple(pks),
        ),
        Case(
            "meter_devices",
            "meter-devices",
            services,
            {},
            "SELECT d.*, "
            + links(
                "accounts_meterdevice_current_servicepoints",
                "meterdevice",
                "servicepoint",
                "cds_servicepoint_id",
                "d",
            )
            + ", "
            + links(
                "accounts_meterdevice_previous_servicepoints",
                "meterdevice",
                "servicepoint",
                "cds_servicepoint_id",
                "d",
            )
            + " FROM accounts_meterdevice d WHERE d.id IN (SELECT m.meterdevice_id "
            "FROM accounts_meterdevice_current_servicepoints m "
            "JOIN accounts_servicepoint_current_servicecontracts l "
            "ON l.servicepoint_id = m.servicepoint_id JOIN accounts_servicecontract c "
            f"ON c.id = l.servicecontract_id WHERE c.account_id {among}) "
            "ORDER BY d.cds_modified DESC, d.cds_meterdevice_id LIMIT 101",
            tuple(pks),
        ),
        Case(
            "bill_statements",
            "bill-statements",
            bills,
            {},
            "SELECT s.*, a.cds_account_id FROM bills_billstatement s "
            f"JOIN accounts_account a ON a.id = s.account_id WHERE s.account_id {among} "
            "ORDER BY s.statement_date DESC, s.cds_modified DESC, s.cds_billstatement_id "
            "LIMIT 101",
            tuple(pks),
        ),
        Case(
            "bill_sections",
            "bill-sections",
            bills,
            {},
            "SELECT b.*, a.cds_account_id, s.cds_billstatement_id, s.statement_date "
            "FROM bills_billsection b JOIN accounts_account a ON a.id = b.account_id "
            "LEFT JOIN bills_billstatement s ON s.id = b.statement_id "
            f"WHERE b.account_id {among} "
            "ORDER BY a.cds_account_id, b.start_date, b.cds_modified DESC, b.cds_billsection_id "
            "LIMIT 101",
            tuple(pks),
        ),
        Case(
            "usage_intervals",
            "usage-segments",
            intervals,
            {},
            "SELECT s.*, a.cds_account_id FROM usage_usagesegment s "
            f"JOIN accounts_account a ON a.id = s.account_id WHERE s.account_id = %s "
            f"{segment_order} LIMIT 101",
            (big,),
        ),
        # 101 hours from the first: the five daily segments that hold them, value sets too.
        Case(
            "hourly_aggregates",
            "usage-segments",
            aggregates["hourly_aggregates"],
            {"aggregation_type": "hourly_aggregates"},
            f"SELECT {LIGHT}, s.values_json FROM usage_usagesegment s WHERE s.account_id = %s "
            f"{segment_order} LIMIT 5",
            (big,),
        ),
        # 101 days: the totals of the 101 daily segments that hold them.
        Case(
            "daily_aggregates",
            "usage-segments",
            aggregates["daily_aggregates"],
            {"aggregation_type": "daily_aggregates"},
            f"SELECT {LIGHT} FROM usage_usagesegment s WHERE s.account_id = %s "
            f"{segment_order} LIMIT 101",
            (big,),
        ),
        # Two years of months: the totals of every one of the 730 daily segments.
        Case(
            "monthly_aggregates",
            "usage-segments",
            aggregates["monthly_aggregates"],
            {"aggregation_type": "monthly_aggregates"},
            f"SELECT {LIGHT} FROM usage_usagesegment s WHERE s.account_id = %s {segment_order}",
            (big,),
        ),
    ]

    http = Client()

    def request(path: str, bearer: str, params: dict[str, str]) -> Callable[[], Any]:
        def call() -> Any:
            response = http.get(API + path, params, HTTP_AUTHORIZATION=f"Bearer {bearer}")
            assert response.status_code == 200, (path, response.content[:300])
            return response

        return call

    def raw(sql: str, args: tuple[Any, ...]) -> Callable[[], Any]:
        def call() -> list[Any]:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall()

        return call

    def counted(action: Callable[[], Any]) -> tuple[int, list[dict[str, str]]]:
        """Queries on every connection (the access log's included)."""
        captures = [CaptureQueriesContext(connections[alias]) for alias in connections]
        for capture in captures:
            capture.__enter__()
        try:
            action()
        finally:
            for capture in captures:
                capture.__exit__(None, None, None)
        found = [q for capture in captures for q in capture.captured_queries]
        return len(found), found

    noop = median_ms(request("noop", accounts, {"limit": "100"}))
    endpoint_ms, raw_ms, ratios, queries = {}, {}, {}, {}
    for case in cases:
        params = {**case.params, "limit": "100"}
        assert len(raw(case.sql, case.args)()) > 0, case.name
        endpoint_ms[case.name] = median_ms(request(case.path, case.token, params))
        raw_ms[case.name] = median_ms(raw(case.sql, case.args))
        ratios[case.name] = round(endpoint_ms[case.name] / (raw_ms[case.name] + noop), 2)
        queries[case.name] = [
            counted(request(case.path, case.token, {**case.params, "limit": size}))[0]
            for size in ("10", "100")
        ]
        if explain:
            show_plans(case, connection, counted(request(case.path, case.token, params))[1])

    # Today's definitions, kept comparable with earlier runs.
    page_raw = median_ms(
        raw(
            "SELECT * FROM usage_usagesegment WHERE account_id = %s "
            "ORDER BY segment_start LIMIT 100",
            (big,),
        )
    )
    month_start, month_end = local_midnight(MONTH[0]), local_midnight(MONTH[1])
    window = {"type": "cds_usage", "segment_start": stamp(month_start)}
    window["segment_end"] = stamp(month_end)
    window_big = median_ms(request("usage-segments", token(["acc-00"], window), {}))
    window_small = median_ms(request("usage-segments", token(["acc-01"], window), {}))

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
    figures = {
        "database": connection.vendor,
        "intervals_page_ratio": round(endpoint_ms["usage_intervals"] / page_raw, 2),
        "monthly_2y_ratio": round(
            endpoint_ms["monthly_aggregates"] / raw_ms["monthly_aggregates"], 2
        ),
        "window_scaling": round(window_big / window_small, 2),
        "queries_page_10": queries["usage_intervals"][0],
        "queries_page_100": queries["usage_intervals"][1],
        "access_log_insert_p50_ms": round(log_p50, 3),
        "noop_p50_ms": round(noop, 3),
        "endpoint_ratios": ratios,
        "queries": queries,
        "endpoint_ms": {k: round(v, 2) for k, v in endpoint_ms.items()},
        "raw_ms": {k: round(v, 3) for k, v in raw_ms.items()},
    }
    print(f"import of the data set ({METERS} meters, {value_sets:,} value sets): {loaded:.1f} s")
    print(f"F, an authenticated no-op request: {noop:.2f} ms (p50)")
    print(f"{'endpoint (limit=100)':<22} {'ms':>8} {'raw ms':>8} {'ratio':>6}  queries at 10/100")
    for case in cases:
        name = case.name
        verdict = "ok" if ratios[name] <= TARGET else "MISSED"
        same = queries[name][0] == queries[name][1] <= 6
        print(
            f"{name:<22} {endpoint_ms[name]:>8.2f} {raw_ms[name]:>8.3f} {ratios[name]:>6}"
            f"  {queries[name][0]}/{queries[name][1]} "
            f"(ratio {verdict}, queries {'ok' if same else 'MISSED'})"
        )
    print(f"(ratio = endpoint / (raw + F); target <= {TARGET}; medians of {RUNS} runs after ")
    print(f" {WARMUP} warm-up runs; database {connection.vendor})")
    targets = {"intervals_page_ratio": TARGET, "monthly_2y_ratio": TARGET, "window_scaling": 1.3}
    for name, limit in targets.items():
        verdict = "ok" if figures[name] <= limit else "MISSED"
        print(f"{name:<24} {figures[name]:>6} (target <= {limit}) {verdict}")
    log_ok = figures["access_log_insert_p50_ms"] <= 0.5
    print(
        f"access log insert p50 (ms) {figures['access_log_insert_p50_ms']} (target <= 0.5, "
        f"database {AccessLogEntry.objects.db}) {'ok' if log_ok else 'MISSED'}"
    )
    print(exactjson.dumps(figures))


def show_plans(case: Case, connection: Any, captured: list[dict[str, str]]) -> None:
    """The denominator's SQL and plan, and the plan of the endpoint's slowest query."""
    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    print(f"\n=== {case.name}: denominator\n{case.sql}\n    args {case.args}")
    with connection.cursor() as cursor:
        cursor.execute(prefix + case.sql, case.args)
        for row in cursor.fetchall():
            print("   ", row[-1])
    ours = [q for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    if not ours:
        return
    slowest = max(ours, key=lambda q: float(q["time"]))
    print(f"--- {case.name}: the endpoint's slowest query ({slowest['time']} s)")
    print(f"    {slowest['sql'][:2000]}")
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            for row in cursor.fetchall():
                print("   ", row[0])


if __name__ == "__main__":
    main()
