"""Load test (``make loadtest``; not run in CI): gunicorn under a mixed workload, against a
baseline revision served the same way.

1. Data: ``usage_bench.document()`` (50 accounts, each with an electric and a gas service, 24
   monthly bill statements with a section each, June 2025 of 15-minute net-metered usage on
   every electric meter and two years on ``md-00``), with account names, addresses, contacts,
   statuses and a second version of every sixth account, numbers on the electric contracts,
   points and meters, and longer usage on three more meters (``md-01`` a year, ``md-02`` six
   months, ``md-03`` three). Written once to var/loadtest/ (reused while the generators are
   unchanged) and loaded by each revision's own ``manage.py cds_import``.
2. Two PostgreSQL databases on the server ``DATABASE_URL`` names, dropped and created anew on
   every run: ``cds_loadtest`` (this checkout) and ``cds_loadtest_baseline`` (the baseline
   revision ``LOADTEST_BASELINE``, default ``0ce94ac``, checked out with ``git worktree add
   --detach var/loadtest/baseline-<rev> <rev>`` and installed in var/loadtest/baseline-venv).
   Each gets the same document, one client (``loadtest``) and grants made by that revision's
   own ``cds_client`` / ``cds_grant create --issue-token`` (``bench/loadtest_grants.py``):
   five seed-vocabulary grants on both, four upstream ones on this checkout only.
3. Two gunicorns, sync workers, ``LOADTEST_WORKERS`` (2) each, DEBUG off, plain HTTP: this
   checkout with ``cdsapi/gunicorn.conf.py`` on 127.0.0.1:8101 (``LOADTEST_PORT``), rate
   limits set far above the load (both counted, neither refuses: a bad token is 401, never
   429); the baseline, which has no gunicorn config, with ``gunicorn cdsapi.wsgi:application``
   and the same settings on 8102 (``LOADTEST_BASELINE_PORT``).
4. The client: aiohttp, ``LOADTEST_CONCURRENCY`` (32) requests in flight, one process pinned to
   one CPU (``LOADTEST_CLIENT_CPU``, default the last one; the servers are not pinned), the
   same headers to both servers (``Accept-Encoding: gzip``; a new connection per request, as
   gunicorn's sync workers close each one). Each distinct request is fetched once first; every
   later 200 must have the same body (bytes after gzip decoding, else the same JSON with exact
   decimals), or it counts as a body mismatch. Every status other than the one expected for
   the request (200, 400 for bad parameters, 401 for bad tokens) counts in
   ``unexpected_statuses``.
5. Phases of ``LOADTEST_SECONDS`` (60) on each server, after a short uncounted warm-up: the
   comparable mix on this checkout and on the baseline, run in alternating slices of about
   20 s (current, baseline, baseline, current, ...: whatever else runs on the machine weighs
   on both alike), then the full mix on this checkout. The comparable mix is what both
   revisions serve: the four endpoints the baseline has (accounts, bill statements, bill
   sections, usage segments: intervals and hourly, daily and monthly aggregates) under the
   seed grants, with the filters both take; the full mix adds service contracts, points and
   meters and the upstream grants. Each mix is 90 % valid requests, 5 % bad tokens and 5 %
   bad parameters.

Prints one table per phase (per endpoint: requests, requests/s, p50/p95/p99 ms, decoded kB per
response) with the status counts and the CPU per request of the gunicorn processes and of the
PostgreSQL backends serving the database (sampled from their process titles, read only); the
last line is one JSON object (``requests_per_s``, ``baseline_requests_per_s``,
``throughput_ratio``, ``p99_ms``, ``unexpected_statuses``, ``full_mix_requests_per_s``, ...).
Every server it started is stopped at the end, whatever happens.
"""

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VAR = ROOT / "var" / "loadtest"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from usage_bench import day_segment, day_values, document  # noqa: E402

SECONDS = float(os.environ.get("LOADTEST_SECONDS", "60"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", "2"))
CONCURRENCY = int(os.environ.get("LOADTEST_CONCURRENCY", "32"))
BASELINE = os.environ.get("LOADTEST_BASELINE", "0ce94ac").strip()
HOST = "127.0.0.1"
PORT = int(os.environ.get("LOADTEST_PORT", "8101"))
BASELINE_PORT = int(os.environ.get("LOADTEST_BASELINE_PORT", "8102"))
ALL_CPUS = frozenset(os.sched_getaffinity(0))
CLIENT_CPU = int(os.environ.get("LOADTEST_CLIENT_CPU", str(max(ALL_CPUS))))
DB_NAME = "cds_loadtest"
BASELINE_DB_NAME = "cds_loadtest_baseline"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
API = "/cds-customerdata-api/v1/"
CLIENT_ID = "loadtest"
# Far above anything this client sends: the counters are still written on every request
# (their cost is part of it), but nothing is refused.
RATE = "100000000/min"
WARMUP_SECONDS = min(3.0, SECONDS / 4)
READY_SECONDS = 90
GENERATOR_VERSION = 1
SEED = 20261128


class LoadTestError(Exception):
    """A reason to stop, said in one sentence (no traceback)."""


def say(message: str) -> None:
    print(f"[loadtest] {message}", file=sys.stderr, flush=True)


# -- the data set -------------------------------------------------------------------------

FIRST_NAMES = ("Ada", "Bram", "Chen", "Dalia", "Emeka", "Freya", "Goran", "Hana", "Ines", "Jun")
LAST_NAMES = ("Abara", "Berg", "Costa", "Dube", "Engel", "Fischer", "Garza", "Holm", "Ito")
# Meters with more 15-minute data than document()'s month: (first local day, days).
LONG_USAGE = {1: (date(2025, 11, 1), 365), 2: (date(2025, 5, 1), 184), 3: (date(2025, 4, 1), 91)}


def build_document() -> dict[str, Any]:
    doc = document()
    versions = []
    for m, account in enumerate(doc["accounts"]):
        name = f"{FIRST_NAMES[m % len(FIRST_NAMES)]} {LAST_NAMES[m % len(LAST_NAMES)]}"
        account.update(
            customer_number=f"C{m:05d}",
            account_name=name,
            account_address=f"{name}\n{100 + m} Loadtest Way\nSpringfield, XX 9{m:04d}",
            account_types=[
                "customer",
                "commercial" if m % 5 == 4 else "residential",
                "billed_monthly",
            ],
            account_status="closed" if m % 9 == 8 else "active",
            account_contacts=[
                {"id": f"ct-{m:02d}", "types": ["email", "primary"], "value": f"c{m}@example.com"}
            ],
        )
        if m % 6 == 1:  # a later version: renamed in June 2025
            versions.append(
                dict(account, cds_modified="2025-06-01T00:00:00Z", account_name=f"{name} Renamed")
            )
    doc["accounts"].extend(versions)
    for contract in doc["service_contracts"]:
        m = contract["cds_servicecontract_id"].removeprefix("sc-")
        if m.isdigit():
            contract.update(
                contract_number=f"E{int(m):05d}",
                rateplan_code="E-TOU-C",
                rateplan_name="Residential Time-of-Use",
            )
    for point in doc["service_points"]:
        m = point["cds_servicepoint_id"].removeprefix("sp-")
        if m.isdigit():
            point.update(
                servicepoint_number=f"EP{int(m):05d}",
                servicepoint_address=f"{100 + int(m)} Loadtest Way\nSpringfield, XX",
                latitude=Decimal("45.5") + Decimal(int(m)).scaleb(-3),
                longitude=Decimal("-122.6") - Decimal(int(m)).scaleb(-3),
            )
    for meter in doc["meter_devices"]:
        m = meter["cds_meterdevice_id"].removeprefix("md-")
        if m.isdigit():
            meter["meter_number"] = f"EM{int(m):05d}"
    # Longer series on md-01..md-03, in place of their month.
    longer = {f"md-{m:02d}" for m in LONG_USAGE}
    doc["usage_segments"] = [
        s for s in doc["usage_segments"] if s["related_meterdevices"][0] not in longer
    ]
    for m, (first, days) in LONG_USAGE.items():
        rng = random.Random(f"loadtest-{m}")
        ids = tuple(f"{k}-{m:02d}" for k in ("acc", "sc", "sp", "md"))
        for n in range(days):
            day = first + timedelta(days=n)
            doc["usage_segments"].append(day_segment(ids, day, day_values(rng, day)))
    return doc


def document_path() -> Path:
    """The document, generated once (deterministic) and kept while its generators are."""
    digest = hashlib.sha256((BENCH / "usage_bench.py").read_bytes())
    for part in (build_document, FIRST_NAMES, LAST_NAMES, LONG_USAGE):
        digest.update((inspect.getsource(part) if callable(part) else repr(part)).encode())
    path = VAR / f"data-v{GENERATOR_VERSION}-{digest.hexdigest()[:10]}.json"
    if path.exists():
        return path
    from cdsapi import exactjson

    for stale in VAR.glob("data-v*.json"):
        stale.unlink()
    began = time.perf_counter()
    text = exactjson.dumps(build_document())
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.rename(path)
    took = time.perf_counter() - began
    say(f"wrote {path.relative_to(ROOT)} ({len(text) / 1e6:.1f} MB, {took:.0f} s)")
    return path


# -- grants and requests ------------------------------------------------------------------


def accounts(*numbers: int) -> list[str]:
    return [f"acc-{m:02d}" for m in numbers]


SEED_GRANTS = [
    {
        "name": "seed_full",
        "accounts": accounts(*range(10)),
        "details": [
            {"type": "cds_current_accounts_details"},
            {"type": "cds_bill_statements"},
            {"type": "cds_usage"},
        ],
    },
    {
        "name": "seed_narrow",
        "accounts": accounts(2, *range(4, 25)),
        "details": [
            {
                "type": "cds_current_accounts_details",
                "fields": ["account_number", "account_name", "account_status"],
                "sync_date_end": "2025-12-31T00:00:00Z",
            },
            {
                "type": "cds_bill_statements",
                "flavor": "usage_only",
                "statement_date_start": "2025-06-01",
                "statement_date_end": "2026-06-30",
            },
            {
                "type": "cds_usage",
                "aggregation_type": "hourly_aggregates",
                "segment_start": "2025-05-15T00:00:00Z",
                "segment_end": "2025-11-15T12:00:00Z",
            },
        ],
    },
    {
        "name": "seed_daily",
        "accounts": accounts(0, 1, 2, 3, *range(30, 40)),
        "details": [
            {"type": "cds_usage", "aggregation_type": "daily_aggregates"},
            {"type": "cds_bill_statements", "flavor": "amount_due_only"},
        ],
    },
    {
        "name": "seed_monthly",
        "accounts": accounts(0, 1, *range(40, 50)),
        "details": [
            {
                "type": "cds_usage",
                "aggregation_type": "monthly_aggregates",
                "segment_start": "2025-01-01T08:00:00Z",
            },
            {"type": "cds_current_accounts_details", "fields": ["account_name", "account_types"]},
        ],
    },
    {
        "name": "seed_window",
        "accounts": accounts(0, 2, 3),
        "details": [
            {
                "type": "cds_usage",
                "segment_start": "2025-06-10T19:00:00Z",
                "segment_end": "2025-06-20T19:00:00Z",
            }
        ],
    },
]
UPSTREAM_GRANTS = [
    {
        "name": "up_services",
        "accounts": accounts(*range(15)),
        "details": [
            {
                "type": "cds_accounts_1",
                "include_account_numbers": True,
                "include_account_details": True,
            },
            {
                "type": "cds_service_contracts_1",
                "include_contract_numbers": True,
                "include_rate_plans": True,
                "include_meter_devices": True,
                "include_meter_numbers": True,
            },
            {
                "type": "cds_meters_1",
                "include_meter_numbers": True,
                "include_service_points": True,
                "include_service_contracts": True,
                "include_accounts": True,
            },
        ],
    },
    {
        "name": "up_bills",
        "accounts": accounts(*range(10, 30)),
        "details": [
            {
                "type": "cds_bill_statements_1",
                "statement_date_start": "2025-01-01",
                "include_bill_statement_charges": True,
            },
            {
                "type": "cds_service_bills_1",
                "start_date": "2025-03-01",
                "include_bill_statements": True,
                "include_bill_section_line_items": True,
                "include_meter_devices": True,
            },
        ],
    },
    {
        "name": "up_usage",
        "accounts": accounts(0, 1, 2, 3, *range(20, 26)),
        "details": [
            {
                "type": "cds_usage_1",
                "segment_start": "2025-09-01T00:00:00Z",
                "sync_until": "2026-06-01T00:00:00Z",
                "include_meter_devices": True,
                "include_meter_numbers": True,
                "include_accounts": True,
                "include_account_numbers": True,
            }
        ],
    },
    {
        "name": "up_mixed",
        "accounts": accounts(0, 1, *range(40, 50)),
        "details": [
            {"type": "cds_accounts_1", "sync_until": "2025-12-01T00:00:00Z"},
            {
                "type": "cds_usage_1",
                "include_service_points": True,
                "include_service_contracts": True,
                "include_contract_numbers": True,
                "include_usage_segment_value_types": ["electric_usage"],
            },
            {"type": "cds_meters_1", "include_service_points": True, "include_coordinates": True},
        ],
    },
]

INTERVALS, HOURLY, DAILY, MONTHLY = (
    "usage-segments intervals",
    "usage-segments hourly",
    "usage-segments daily",
    "usage-segments monthly",
)
BAD_TOKEN, BAD_PARAMS = "bad token (401)", "bad params (400)"
# (label, grant, path and query): requests both revisions serve, under seed grants only.
COMPARABLE = [
    ("accounts", "seed_full", "accounts"),
    ("accounts", "seed_full", "accounts?limit=5"),
    ("accounts", "seed_full", "accounts?account_statuses=active"),
    ("accounts", "seed_full", "accounts?cds_account_ids=acc-01 acc-07"),
    ("accounts", "seed_full", "accounts?account_numbers=90003"),
    ("accounts", "seed_full", "accounts?q=loadtest way"),
    ("accounts", "seed_narrow", "accounts"),
    ("accounts", "seed_narrow", "accounts?q=renamed"),
    ("accounts", "seed_narrow", "accounts?limit=10&offset=10"),
    ("accounts", "seed_monthly", "accounts"),
    ("bill-statements", "seed_full", "bill-statements"),
    ("bill-statements", "seed_full", "bill-statements?limit=10"),
    ("bill-statements", "seed_full", "bill-statements?after=2026-01-01"),
    ("bill-statements", "seed_full", "bill-statements?after=2025-01-01&before=2025-06-30"),
    ("bill-statements", "seed_full", "bill-statements?cds_account_ids=acc-03"),
    ("bill-statements", "seed_full", "bill-statements?limit=20&offset=100"),
    ("bill-statements", "seed_narrow", "bill-statements"),
    ("bill-statements", "seed_narrow", "bill-statements?account_numbers=90010"),
    ("bill-statements", "seed_daily", "bill-statements?limit=50"),
    ("bill-sections", "seed_full", "bill-sections"),
    ("bill-sections", "seed_full", "bill-sections?cds_billstatement_ids=bst-03-2025-05"),
    ("bill-sections", "seed_full", "bill-sections?after=2026-01-01&limit=10"),
    ("bill-sections", "seed_full", "bill-sections?before=2025-03-31&limit=25"),
    ("bill-sections", "seed_narrow", "bill-sections"),
    ("bill-sections", "seed_narrow", "bill-sections?limit=10&offset=30"),
    (INTERVALS, "seed_full", "usage-segments"),
    (INTERVALS, "seed_full", "usage-segments?limit=10"),
    (INTERVALS, "seed_full", "usage-segments?cds_meterdevice_ids=md-01&limit=7"),
    (
        INTERVALS,
        "seed_full",
        "usage-segments?after=2026-10-01T00:00:00Z&before=2026-10-15T00:00:00Z",
    ),
    (INTERVALS, "seed_full", "usage-segments?limit=5&offset=300"),
    (INTERVALS, "seed_full", "usage-segments?cds_account_ids=acc-05"),
    (INTERVALS, "seed_window", "usage-segments"),
    (INTERVALS, "seed_window", "usage-segments?cds_account_ids=acc-02"),
    (HOURLY, "seed_full", "usage-segments?aggregation_type=hourly_aggregates&limit=48"),
    (HOURLY, "seed_narrow", "usage-segments"),
    (HOURLY, "seed_narrow", "usage-segments?limit=24&after=2025-07-01T00:00:00Z"),
    (HOURLY, "seed_narrow", "usage-segments?cds_account_ids=acc-02"),
    (DAILY, "seed_full", "usage-segments?aggregation_type=daily_aggregates"),
    (
        DAILY,
        "seed_full",
        "usage-segments?aggregation_type=daily_aggregates&cds_account_ids=acc-01&limit=31",
    ),
    (DAILY, "seed_daily", "usage-segments"),
    (DAILY, "seed_daily", "usage-segments?after=2026-06-01T00:00:00Z&limit=30"),
    (DAILY, "seed_narrow", "usage-segments?aggregation_type=daily_aggregates"),
    (MONTHLY, "seed_full", "usage-segments?aggregation_type=monthly_aggregates"),
    (MONTHLY, "seed_monthly", "usage-segments"),
    (MONTHLY, "seed_monthly", "usage-segments?cds_account_ids=acc-00"),
    (MONTHLY, "seed_daily", "usage-segments?aggregation_type=monthly_aggregates&limit=12"),
]
COMPARABLE_BAD_PARAMS = [
    ("seed_full", "accounts?limit=abc"),
    ("seed_full", "accounts?limit=1&limit=2"),
    ("seed_full", "bill-statements?after=2025-02-30"),
    ("seed_full", "bill-sections?color=blue"),
    ("seed_full", "usage-segments?before=yesterday"),
    ("seed_full", "usage-segments?aggregation_type=weekly"),
]
# The full mix: the comparable requests and these (upstream grants, the endpoints the
# baseline does not have).
UPSTREAM = [
    ("accounts", "up_services", "accounts?limit=10"),
    ("accounts", "up_services", "accounts?account_numbers=90002 90003"),
    ("accounts", "up_mixed", "accounts"),
    ("service-contracts", "up_services", "service-contracts"),
    ("service-contracts", "up_services", "service-contracts?limit=5"),
    ("service-contracts", "up_services", "service-contracts?contract_numbers=E00003"),
    ("service-contracts", "up_services", "service-contracts?service_types=natural_gas"),
    ("service-contracts", "up_services", "service-contracts?q=g0001"),
    ("service-points", "up_services", "service-points"),
    ("service-points", "up_services", "service-points?limit=10"),
    ("service-points", "up_services", "service-points?servicepoint_numbers=GP00002"),
    ("service-points", "up_mixed", "service-points"),
    ("meter-devices", "up_services", "meter-devices"),
    ("meter-devices", "up_services", "meter-devices?meter_number=GM00003"),
    ("meter-devices", "up_services", "meter-devices?limit=5&offset=5"),
    ("meter-devices", "up_mixed", "meter-devices"),
    ("bill-statements", "up_bills", "bill-statements"),
    ("bill-statements", "up_bills", "bill-statements?after=2026-01-01"),
    ("bill-sections", "up_bills", "bill-sections"),
    ("bill-sections", "up_bills", "bill-sections?cds_account_ids=acc-12"),
    (INTERVALS, "up_usage", "usage-segments?limit=10"),
    (INTERVALS, "up_usage", "usage-segments?meter_numbers=EM00001"),
    (INTERVALS, "up_mixed", "usage-segments?limit=20"),
]
UPSTREAM_BAD_PARAMS = [
    ("up_services", "service-contracts?bogus=1"),
    ("up_services", "meter-devices?limit=-1"),
    ("up_services", "service-points?offset=x"),
]
# Share of the valid requests (90 % of all) per endpoint; then 5 % each of bad tokens and
# bad parameters.
COMPARABLE_WEIGHTS = {
    "accounts": 14,
    "bill-statements": 14,
    "bill-sections": 12,
    INTERVALS: 16,
    HOURLY: 10,
    DAILY: 12,
    MONTHLY: 12,
}
FULL_WEIGHTS = {
    "accounts": 10,
    "service-contracts": 8,
    "service-points": 7,
    "meter-devices": 7,
    "bill-statements": 11,
    "bill-sections": 10,
    INTERVALS: 13,
    HOURLY: 8,
    DAILY: 8,
    MONTHLY: 8,
}
ROW_ORDER = [
    "accounts",
    "service-contracts",
    "service-points",
    "meter-devices",
    "bill-statements",
    "bill-sections",
    INTERVALS,
    HOURLY,
    DAILY,
    MONTHLY,
    BAD_TOKEN,
    BAD_PARAMS,
]
BAD_TOKENS = [hashlib.sha256(f"loadtest-bad-{i}".encode()).hexdigest()[:43] for i in range(16)]


@dataclass(frozen=True)
class Request:
    label: str
    grant: str  # a grant's name, or "" for a bad token
    path: str  # path and encoded query under API
    expect: int
    token: str = ""  # the bad token itself


def encode(path: str) -> str:
    """The path with its query values percent-encoded (spaces as %20)."""
    base, _, query = path.partition("?")
    if not query:
        return base
    parts = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        parts.append(f"{name}={quote(value, safe='')}")
    return f"{base}?{'&'.join(parts)}"


@dataclass
class Mix:
    name: str
    requests: list[Request]
    cum_weights: list[float]

    @classmethod
    def build(
        cls,
        name: str,
        valid: list[tuple[str, str, str]],
        bad_params: list[tuple[str, str]],
        weights: dict[str, float],
    ) -> "Mix":
        by_label: dict[str, list[Request]] = defaultdict(list)
        for label, grant, path in valid:
            by_label[label].append(Request(label, grant, encode(path), 200))
        by_label[BAD_PARAMS] = [
            Request(BAD_PARAMS, grant, encode(path), 400) for grant, path in bad_params
        ]
        # A bad token on any endpoint the mix asks for (the first valid request of each).
        paths = sorted({encode(path).partition("?")[0] for _, _, path in valid})
        by_label[BAD_TOKEN] = [
            Request(BAD_TOKEN, "", path, 401, token) for path in paths for token in BAD_TOKENS
        ]
        shares = {label: 90 * w / sum(weights.values()) for label, w in weights.items()}
        shares[BAD_TOKEN] = shares[BAD_PARAMS] = 5.0
        requests, cum, total = [], [], 0.0
        for label in ROW_ORDER:
            if label not in shares:
                continue
            group = by_label[label]
            for request in group:
                total += shares[label] / len(group)
                requests.append(request)
                cum.append(total)
        return cls(name, requests, cum)

    def distinct(self) -> list[Request]:
        """Each request once (bad tokens: one per path)."""
        seen, out = set(), []
        for request in self.requests:
            key = (request.label, request.grant, request.path)
            if key not in seen:
                seen.add(key)
                out.append(request)
        return out


COMPARABLE_MIX = Mix.build("comparable", COMPARABLE, COMPARABLE_BAD_PARAMS, COMPARABLE_WEIGHTS)
FULL_MIX = Mix.build(
    "full", COMPARABLE + UPSTREAM, COMPARABLE_BAD_PARAMS + UPSTREAM_BAD_PARAMS, FULL_WEIGHTS
)


# -- databases, revisions, servers --------------------------------------------------------


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def admin_connection(base: str) -> Any:
    import psycopg

    admin = database_url(base, "postgres")
    try:
        return psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise LoadTestError(
            f"PostgreSQL is not reachable at {admin} ({reason}); start it "
            "(pg_ctlcluster ... main start, as .ci/run does) or set DATABASE_URL"
        ) from None


def recreate_databases(base: str, names: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with admin_connection(base) as conn:
        for name in names:
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse:
                raise LoadTestError(
                    f"cannot drop database {name}: other sessions use it (a server left by a "
                    "killed load test? stop it and run again)"
                ) from None
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def vacuum(url: str) -> None:
    """Fresh planner statistics, and no autovacuum of the new rows during the timings."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def run(
    command: list[str], cwd: Path, env: dict[str, str], what: str, stdin: str | None = None
) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise LoadTestError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise LoadTestError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def baseline_tree(rev: str) -> tuple[Path, str]:
    """The baseline's worktree (made once, reused) and its full commit id."""
    if not rev or not all(c.isalnum() or c in "._-/" for c in rev):
        raise LoadTestError(f"LOADTEST_BASELINE={rev!r} is not a revision name")
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except LoadTestError:
        raise LoadTestError(f"LOADTEST_BASELINE={rev!r} names no commit of {ROOT}") from None
    path = VAR / f"baseline-{rev.replace('/', '_')}"
    if path.exists():
        found = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if found != [str(path), commit]:
            raise LoadTestError(
                f"{path} exists but is not a checkout of {rev} ({commit[:12]}): move it away, "
                "or run `git worktree remove` on it, and run again"
            )
        return path, commit
    VAR.mkdir(parents=True, exist_ok=True)
    say(f"git worktree add --detach {path.relative_to(ROOT)} {rev}")
    done = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LoadTestError(
            f"cannot make the baseline worktree {path} at {rev}: {done.stderr.strip()} (if git "
            "says it is a missing but registered worktree: git worktree prune)"
        )
    return path, commit


def baseline_python(tree: Path, commit: str) -> Path:
    """var/loadtest/baseline-venv with the baseline installed (editable) and its own
    dependencies, made or re-made when the baseline changes."""
    venv = VAR / "baseline-venv"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    want = f"{tree}\n{commit}\n{hashlib.sha256((tree / 'pyproject.toml').read_bytes()).hexdigest()}"
    if python.exists() and marker.exists() and marker.read_text() == want:
        return python
    say(f"installing the baseline {commit[:12]} in {venv.relative_to(ROOT)} (once)")
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)], ROOT, dict(os.environ), "python -m venv")
    run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", str(tree)],
        ROOT,
        dict(os.environ),
        f"pip install -e {tree}",
    )
    marker.write_text(want)
    return python


def secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "").strip()
    if not key:
        path = ROOT / "var" / "secret_key"
        key = path.read_text().strip() if path.exists() else secrets.token_urlsafe(50)
    return key


@dataclass
class Side:
    """One revision: its tree, Python, database, server and tokens."""

    name: str
    tree: Path
    python: Path
    db_url: str
    port: int
    grants: list[dict[str, Any]]
    server_command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def setup(self, document: Path) -> None:
        """Migrate, import, grant, vacuum: with this revision's own commands."""
        began = time.perf_counter()
        manage = [str(self.python), "manage.py"]
        run(
            [*manage, "migrate", "--noinput", "-v", "0"],
            self.tree,
            self.env,
            f"{self.name}: migrate",
        )
        out = run(
            [*manage, "cds_import", str(document), "--no-progress"],
            self.tree,
            self.env,
            f"{self.name}: cds_import {document.name}",
        )
        imported = time.perf_counter() - began
        spec = json.dumps({"client_id": CLIENT_ID, "grants": self.grants})
        out = run(
            [str(self.python), str(BENCH / "loadtest_grants.py")],
            self.tree,
            self.env,
            f"{self.name}: cds_client/cds_grant",
            stdin=spec,
        )
        self.tokens = json.loads(out.strip().splitlines()[-1])
        vacuum(self.db_url)
        say(
            f"{self.name}: migrated and imported in {imported:.0f} s, {len(self.tokens)} grants "
            f"({time.perf_counter() - began:.0f} s in all)"
        )


def port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex((HOST, port)) == 0:
            raise LoadTestError(
                f"port {port} on {HOST} is in use (another loadtest, or some other server); "
                "stop it, or pick free ports with LOADTEST_PORT / LOADTEST_BASELINE_PORT"
            )


def _unpin() -> None:
    os.sched_setaffinity(0, ALL_CPUS)


class Server:
    """A gunicorn in a process group of its own, logging to var/loadtest/<name>-server.log."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.log_path = VAR / f"{side.name}-server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        port_free(self.side.port)
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.side.server_command,
                cwd=self.side.tree,
                env=self.side.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped whole
                preexec_fn=_unpin,  # never the client's CPU pinning
            )
        finally:
            log.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        url = f"{self.side.base}/readyz"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LoadTestError(
                    f"the {self.side.name} server exited ({self.process.returncode}) before "
                    f"it was ready; {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise LoadTestError(
            f"the {self.side.name} server did not answer {url} with 200 within "
            f"{READY_SECONDS} s; {self.log_path}:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers (as they are now)."""
        import psutil

        if self.process is None:
            return 0.0
        try:
            master = psutil.Process(self.process.pid)
            total = 0.0
            for proc in [master, *master.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total
        except psutil.NoSuchProcess:
            return 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the group is the master's pid
        for sig, wait in ((signal.SIGTERM, 35), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers left behind by a master that died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


class DatabaseCpu:
    """CPU of the PostgreSQL backends serving one database, read (never touched) from their
    process titles (``postgres: ... USER DBNAME HOST(PORT) STATE``) by sampling: a backend
    that starts during a phase counts from zero, one that ends counts up to its last sample."""

    def __init__(self, db_name: str) -> None:
        self.tag = f" {db_name} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self, at_start: bool = False) -> None:
        import psutil

        for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            info = proc.info
            if info["name"] != "postgres" or not info["cmdline"] or not info["cpu_times"]:
                continue
            if self.tag not in " ".join(info["cmdline"]) + " ":
                continue
            cpu = info["cpu_times"].user + info["cpu_times"].system
            self.first.setdefault(proc.pid, cpu if at_start else 0.0)
            self.last[proc.pid] = cpu

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


# -- the client ---------------------------------------------------------------------------


def same_json(body: bytes, reference: bytes) -> bool:
    try:
        return json.loads(body, parse_float=Decimal) == json.loads(reference, parse_float=Decimal)
    except ValueError:
        return False


@dataclass
class Results:
    """What one phase (or reference pass) saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sizes: dict[str, int] = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    unexpected: Counter = field(default_factory=Counter)  # (label, expected, got)
    mismatches: Counter = field(default_factory=Counter)  # path
    examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def note(self, text: str) -> None:
        if len(self.examples) < 8:
            self.examples.append(text)

    def add(self, other: "Results") -> None:
        for label, values in other.latencies.items():
            self.latencies[label].extend(values)
        self.sizes.update(other.sizes)
        self.statuses.update(other.statuses)
        self.unexpected.update(other.unexpected)
        self.mismatches.update(other.mismatches)
        for example in other.examples:
            self.note(example)
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu
        self.db_cpu += other.db_cpu
        self.client_cpu += other.client_cpu


class Client:
    def __init__(self, side: Side) -> None:
        self.side = side
        self.references: dict[tuple[str, str], bytes] = {}

    def headers(self, request: Request) -> dict[str, str]:
        token = request.token or self.side.tokens[request.grant]
        return {"Authorization": f"Bearer {token}"}

    async def one(self, session: Any, request: Request, results: Results, check: bool) -> None:
        import aiohttp
        from yarl import URL

        url = URL(f"{self.side.base}{API}{request.path}", encoded=True)
        began = time.perf_counter()
        try:
            async with session.get(url, headers=self.headers(request)) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            status, body = 0, b""
            results.note(f"{request.path}: {type(exc).__name__}: {exc}")
        took = (time.perf_counter() - began) * 1000
        results.latencies[request.label].append(took)
        results.sizes[request.label] += len(body)
        results.statuses[status] += 1
        if status != request.expect:
            results.unexpected[(request.label, request.expect, status)] += 1
            results.note(
                f"{request.path} [{request.grant or 'bad token'}]: {status}, expected "
                f"{request.expect}: {body[:200]!r}"
            )
            return
        if status != 200:
            return
        key = (request.grant, request.path)
        if not check:
            self.references[key] = body
            return
        reference = self.references.get(key)
        if reference is None or (body != reference and not same_json(body, reference)):
            results.mismatches[request.path] += 1
            results.note(f"{request.path} [{request.grant}]: body differs from its reference")

    def session(self) -> Any:
        import aiohttp

        return aiohttp.ClientSession(
            # gunicorn's sync workers close every connection: a new one per request, alike
            # for both servers.
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=60),
            headers={"Accept": "application/json", "Accept-Encoding": "gzip"},
            auto_decompress=True,
        )

    async def references_pass(self, mix: Mix) -> Results:
        """Each distinct request once: the reference bodies, and the expected statuses."""
        results = Results()
        pending = [r for r in mix.distinct() if (r.grant, r.path) not in self.references]
        async with self.session() as session:
            queue = asyncio.Queue()
            for request in pending:
                queue.put_nowait(request)

            async def worker() -> None:
                while not queue.empty():
                    await self.one(session, queue.get_nowait(), results, check=False)

            await asyncio.gather(*(worker() for _ in range(4)))
        return results

    async def phase(self, mix: Mix, seconds: float, server: Server) -> Results:
        results = Results()
        async with self.session() as session:
            began = time.perf_counter()
            deadline = began + seconds
            cpu0, client0 = server.cpu_seconds(), time.process_time()
            database = DatabaseCpu(urlsplit(server.side.db_url).path.lstrip("/"))
            database.sample(at_start=True)
            running = True

            async def sampler() -> None:
                while running:
                    await asyncio.sleep(0.5)
                    database.sample()

            async def worker(n: int) -> None:
                rng = random.Random(f"{SEED}-{mix.name}-{n}")
                while time.perf_counter() < deadline:
                    request = rng.choices(mix.requests, cum_weights=mix.cum_weights)[0]
                    await self.one(session, request, results, check=True)

            watching = asyncio.create_task(sampler())
            await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
            results.elapsed = time.perf_counter() - began
            results.server_cpu = server.cpu_seconds() - cpu0
            running = False
            await watching
            database.sample()
            results.db_cpu = database.seconds()
            results.client_cpu = time.process_time() - client0
        return results


# -- report -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(results: Results) -> dict[str, Any]:
    every = [x for v in results.latencies.values() for x in v]
    per_endpoint = {}
    for label in ROW_ORDER:
        values = results.latencies.get(label)
        if not values:
            continue
        per_endpoint[label] = {
            "requests": len(values),
            "requests_per_s": round(len(values) / results.elapsed, 1),
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
            "p99_ms": round(percentile(values, 99), 1),
            "kb_per_response": round(results.sizes[label] / len(values) / 1000, 1),
        }
    count = len(every)
    return {
        "requests": count,
        "seconds": round(results.elapsed, 1),
        "requests_per_s": round(count / results.elapsed, 1) if results.elapsed else 0.0,
        "p50_ms": round(percentile(every, 50), 1),
        "p95_ms": round(percentile(every, 95), 1),
        "p99_ms": round(percentile(every, 99), 1),
        "server_cpu_ms_per_request": round(1000 * results.server_cpu / count, 2) if count else 0,
        "db_cpu_ms_per_request": round(1000 * results.db_cpu / count, 2) if count else 0,
        "client_cpu_share": round(results.client_cpu / results.elapsed, 2)
        if results.elapsed
        else 0,
        "unexpected_statuses": sum(results.unexpected.values()),
        "body_mismatches": sum(results.mismatches.values()),
        "status_counts": {str(k): v for k, v in sorted(results.statuses.items())},
        "per_endpoint": per_endpoint,
    }


def print_table(title: str, figures: dict[str, Any], results: Results) -> None:
    print(f"\n== {title}")
    print(
        f"{figures['requests']} requests in {figures['seconds']} s: "
        f"{figures['requests_per_s']} requests/s, p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms; server CPU "
        f"{figures['server_cpu_ms_per_request']} ms/request, PostgreSQL "
        f"{figures['db_cpu_ms_per_request']} ms/request; client CPU "
        f"{figures['client_cpu_share']:.0%} of its core"
    )
    heads = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{'endpoint':<26}" + "".join(f"{h:>9}" for h in heads) + f"{'kB':>8}")
    for label, row in figures["per_endpoint"].items():
        print(
            f"{label:<26}{row['requests']:>9}{row['requests_per_s']:>9.1f}{row['p50_ms']:>9.1f}"
            f"{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['kb_per_response']:>8.1f}"
        )
    print(
        f"{'all':<26}{figures['requests']:>9}{figures['requests_per_s']:>9.1f}"
        f"{figures['p50_ms']:>9.1f}{figures['p95_ms']:>9.1f}{figures['p99_ms']:>9.1f}"
    )
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in figures["status_counts"].items()))
    problems = figures["unexpected_statuses"] + figures["body_mismatches"]
    if problems:
        print(
            f"PROBLEMS: {figures['unexpected_statuses']} unexpected statuses, "
            f"{figures['body_mismatches']} body mismatches, e.g.:"
        )
        for example in results.examples:
            print(f"  {example}")
    sys.stdout.flush()


# -- main ---------------------------------------------------------------------------------


def sides(base_url: str, tree: Path, python: Path) -> tuple[Side, Side]:
    key = secret_key()
    common = {
        "SECRET_KEY": key,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}
    env["LOG_LEVEL"] = os.environ.get("LOADTEST_LOG_LEVEL", "INFO")
    current_url = database_url(base_url, DB_NAME)
    current = Side(
        "current",
        ROOT,
        Path(sys.executable),
        current_url,
        PORT,
        SEED_GRANTS + UPSTREAM_GRANTS,
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "cdsapi/gunicorn.conf.py"],
        env
        | common
        | {
            "DATABASE_URL": current_url,
            "CDS_BIND": f"{HOST}:{PORT}",
            "CDS_WORKERS": str(WORKERS),
            "CDS_THREADS": "1",
            "CDS_ISSUER": f"http://{HOST}:{PORT}",
            "CDS_THROTTLE_CLIENT_RATE": RATE,
            "CDS_THROTTLE_FAILED_AUTH_RATE": RATE,
            # WhiteNoise's directory, empty (no admin page is asked for; it looks up each path
            # in a dict, full or empty): a run touches no staticfiles/ of the checkout.
            "STATIC_ROOT": str(VAR / "staticfiles"),
        },
    )
    baseline_url = database_url(base_url, BASELINE_DB_NAME)
    baseline = Side(
        "baseline",
        tree,
        python,
        baseline_url,
        BASELINE_PORT,
        SEED_GRANTS,
        # The settings cdsapi/gunicorn.conf.py gives, where the baseline has none.
        [
            str(python.parent / "gunicorn"),
            "cdsapi.wsgi:application",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--threads",
            "1",
            "--bind",
            f"{HOST}:{BASELINE_PORT}",
            "--timeout",
            "30",
            "--graceful-timeout",
            "30",
            "--keep-alive",
            "5",
            "--preload",
            "--error-logfile",
            "-",
        ],
        env | common | {"DATABASE_URL": baseline_url, "CDS_REQUIRE_SECRET_KEY": "1"},
    )
    return current, baseline


def main() -> int:
    if SECONDS <= 0 or WORKERS <= 0 or CONCURRENCY <= 0:
        raise LoadTestError(
            "LOADTEST_SECONDS, LOADTEST_WORKERS and LOADTEST_CONCURRENCY must be > 0"
        )
    if CLIENT_CPU not in ALL_CPUS:
        raise LoadTestError(
            f"LOADTEST_CLIENT_CPU={CLIENT_CPU} is not among CPUs {sorted(ALL_CPUS)}"
        )
    base_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if urlsplit(base_url).scheme not in ("postgres", "postgresql", "pgsql"):
        raise LoadTestError(f"PostgreSQL is needed: DATABASE_URL={base_url} is not one")
    if shutil.which("git") is None:
        raise LoadTestError("git is not on PATH (the baseline is a git worktree)")
    (VAR / "staticfiles").mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    for port in (PORT, BASELINE_PORT):
        port_free(port)
    admin_connection(base_url).close()
    tree, commit = baseline_tree(BASELINE)
    python = baseline_python(tree, commit)
    doc = document_path()
    current, baseline = sides(base_url, tree, python)
    recreate_databases(base_url, [DB_NAME, BASELINE_DB_NAME])
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(side.setup, doc) for side in (current, baseline)]:
            future.result()

    servers = {side.name: Server(side) for side in (current, baseline)}
    phases: dict[str, dict[str, Any]] = {}
    checks = Results()  # reference passes and warm-ups: checked, not timed
    # The comparable phases alternate in slices of about 20 s (current, baseline, baseline,
    # current, ...), so that whatever else the machine runs weighs on both alike.
    slices = max(1, round(SECONDS / 20))
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        say(f"servers ready: {current.base} and {baseline.base}, {WORKERS} workers each")
        # The client from here on: one process, one CPU (the servers were started unpinned).
        os.sched_setaffinity(0, {CLIENT_CPU})
        clients = {"current": Client(current), "baseline": Client(baseline)}

        def prepare(who: str, mix: Mix) -> None:
            """Reference bodies and statuses, then an uncounted warm-up."""
            checked = asyncio.run(clients[who].references_pass(mix))
            if checked.unexpected:
                say(f"{who}: {sum(checked.unexpected.values())} reference requests answered")
                for example in checked.examples:
                    say(f"  {example}")
            checks.add(checked)
            checks.add(asyncio.run(clients[who].phase(mix, WARMUP_SECONDS, servers[who])))

        def report(title: str, who: str, mix: Mix, results: Results) -> None:
            if results.count == 0:
                raise LoadTestError(f"{title}: no request completed")
            phases[title] = summary(results)
            print_table(
                f"{title}: {mix.name} mix on {servers[who].side.base} ({who}), "
                f"{WORKERS} sync workers, {CONCURRENCY} in flight, client on CPU {CLIENT_CPU}",
                phases[title],
                results,
            )

        for who in ("current", "baseline"):
            prepare(who, COMPARABLE_MIX)
        say(
            f"comparable mix: {SECONDS:g} s on each server, in {slices} alternating slices, "
            f"{CONCURRENCY} in flight"
        )
        merged = {"current": Results(), "baseline": Results()}
        for n in range(slices):
            for who in ("current", "baseline") if n % 2 == 0 else ("baseline", "current"):
                part = clients[who].phase(COMPARABLE_MIX, SECONDS / slices, servers[who])
                merged[who].add(asyncio.run(part))
        report("comparable-current", "current", COMPARABLE_MIX, merged["current"])
        report("comparable-baseline", "baseline", COMPARABLE_MIX, merged["baseline"])

        prepare("current", FULL_MIX)
        say(f"full mix: {SECONDS:g} s on the current server")
        full_results = asyncio.run(clients["current"].phase(FULL_MIX, SECONDS, servers["current"]))
        report("full-current", "current", FULL_MIX, full_results)
        same = sum(
            1
            for key, body in clients["baseline"].references.items()
            if key in clients["current"].references
            and same_json(body, clients["current"].references[key])
        )
        compared = len(clients["baseline"].references)
    finally:
        os.sched_setaffinity(0, ALL_CPUS)
        for server in servers.values():
            server.stop()

    comparable, base_figures, full = (
        phases["comparable-current"],
        phases["comparable-baseline"],
        phases["full-current"],
    )
    unexpected = sum(checks.unexpected.values()) + sum(
        f["unexpected_statuses"] for f in phases.values()
    )
    mismatches = sum(checks.mismatches.values()) + sum(
        f["body_mismatches"] for f in phases.values()
    )
    if checks.unexpected or checks.mismatches:
        print("\nPROBLEMS in the reference passes and warm-ups, e.g.:")
        for example in checks.examples:
            print(f"  {example}")
    ratio = (
        round(comparable["requests_per_s"] / base_figures["requests_per_s"], 2)
        if base_figures["requests_per_s"]
        else None
    )
    print(
        f"\nthroughput ratio (comparable mix, current / baseline {BASELINE}): {ratio}; "
        f"{compared} comparable 200 bodies, {same} the same JSON on both revisions; "
        f"{unexpected} unexpected statuses, {mismatches} body mismatches; "
        f"{time.perf_counter() - began:.0f} s in all"
    )
    figures = {
        "requests_per_s": comparable["requests_per_s"],
        "baseline_requests_per_s": base_figures["requests_per_s"],
        "throughput_ratio": ratio,
        "p99_ms": comparable["p99_ms"],
        "baseline_p99_ms": base_figures["p99_ms"],
        "full_mix_requests_per_s": full["requests_per_s"],
        "full_mix_p99_ms": full["p99_ms"],
        "unexpected_statuses": unexpected,
        "body_mismatches": mismatches,
        "server_cpu_ms_per_request": comparable["server_cpu_ms_per_request"],
        "baseline_server_cpu_ms_per_request": base_figures["server_cpu_ms_per_request"],
        "full_mix_server_cpu_ms_per_request": full["server_cpu_ms_per_request"],
        "db_cpu_ms_per_request": comparable["db_cpu_ms_per_request"],
        "baseline_db_cpu_ms_per_request": base_figures["db_cpu_ms_per_request"],
        "full_mix_db_cpu_ms_per_request": full["db_cpu_ms_per_request"],
        "baseline": BASELINE,
        "seconds": SECONDS,
        "workers": WORKERS,
        "concurrency": CONCURRENCY,
        "client_cpu": CLIENT_CPU,
        "status_counts": {title: f["status_counts"] for title, f in phases.items()},
        "per_endpoint": {title: f["per_endpoint"] for title, f in phases.items()},
    }
    print(json.dumps(figures))
    return 0 if unexpected + mismatches == 0 else 1


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: the servers are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        sys.exit(main())
    except LoadTestError as exc:
        print(f"make loadtest: {exc}", file=sys.stderr)
        sys.exit(2)
