"""Scale benchmark (``make bench-scale``): the usage requests at 50 meters and at 1,000.

Times the same three usage requests on a meter with two years of 15-minute data in two data
sets, each in a PostgreSQL database of the benchmark's own on the server ``DATABASE_URL``
names (default ``postgres://postgres@127.0.0.1:5432/test``; the databases are
``<name>_bench_scale_small`` and ``<name>_bench_scale``, nothing else is touched):

- small: exactly the 50-meter data set of ``make bench`` (``usage_bench.document()``: one
  meter with two years, the others June 2025), loaded as ``api_bench`` loads it
  (``load_document`` in a child process). The meter timed is ``md-00``.
- large: ``BENCH_SCALE_METERS`` (1,000) meters, each with two years of 15-minute net, forward
  and reverse kWh in America/Los_Angeles (730 daily segments, 70,080 value sets; 730,000
  segments and 70 M value sets in all), with the accounts, contracts, points, meters, gas
  services and bills ``usage_bench.document()`` gives each meter. The document is written to
  var/ segment by segment, in time order (each day, every meter: the order of a utility's
  daily export, so one meter's rows end up spread over the table as in production, not
  packed together), and loaded by a child ``manage.py cds_import FILE --no-progress`` (the
  COPY path); its wall time and own peak RSS are measured. The meter timed is the middle one
  (``md-500``). The file is deleted afterwards unless ``BENCH_SCALE_KEEP=1``; the database is
  kept, and ``BENCH_SCALE_REUSE=1`` times it again without generating or importing (when it
  holds this generator's data set of the same size).

Both databases are vacuumed and analysed after loading (so autovacuum does not run during
the timings). The requests, through Django's test client with bearer tokens as ``make bench``
sends them: ``usage_page`` (a page of 100 interval segments), ``month_window`` (a grant
windowed to June 2025, local) and ``monthly_2y`` (two years of monthly aggregates). Each
data set is served by a child process of its own; after ``WARMUP`` runs, each request is
timed ``BENCH_RUNS`` (100) times on one set and at once on the other (which goes first
alternates), so the machine's other load falls on both alike. A request's figure is the
median of its runs; ``ratio`` = large / small, ``scale_ratio`` the worst (target <= 1.3);
``paired`` is the median of the runs' own large/small ratios. ``--explain`` prints, for the
large set, the plan (EXPLAIN (ANALYZE, BUFFERS)) of each request's main segment query (of
those it sends, captured with CaptureQueriesContext, the one touching the most buffers), and
both sets' buffer counts and SQL times (the median of 7 EXPLAIN ANALYZE runs). Then the
sizes of the large set's usage tables and each of their indexes, in MB and per meter-year.
The last line is one JSON object.
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import usage_bench  # noqa: E402
from import_bench import Day, _values  # noqa: E402
from usage_bench import (  # noqa: E402
    DAYS,
    FIRST_DAY,
    LA,
    MONTH,
    WARMUP,
    document,
    local_midnight,
    stamp,
)
from usage_bench import METERS as SMALL_METERS  # noqa: E402

from cdsapi import exactjson  # noqa: E402

VAR = ROOT / "var"
MB = 1_000_000
# Bump when the large data set changes: a reused database must hold this version's.
GENERATOR_VERSION = 1
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"
METERS = int(os.environ.get("BENCH_SCALE_METERS", "1000"))
RUNS = int(os.environ.get("BENCH_RUNS", "100"))
KEEP = os.environ.get("BENCH_SCALE_KEEP", "") not in ("", "0")
REUSE = os.environ.get("BENCH_SCALE_REUSE", "") not in ("", "0")
TARGET = 1.3
API = "/cds-customerdata-api/v1/usage-segments"
REQUESTS = ("usage_page", "month_window", "monthly_2y")
# What each request serves on a two-year meter: a full page, June's 30 days, 24 months.
EXPECTED_ITEMS = {"usage_page": 100, "month_window": 30, "monthly_2y": 24}
# Database bytes per document byte (measured: see the README), and the WAL and slack the
# import needs on top.
DB_PER_FILE_BYTE = 0.5
WAL_MARGIN = 3_000 * MB
META, FORMATS = usage_bench.META, usage_bench.FORMATS
HEADER_LISTS = (
    "accounts",
    "service_contracts",
    "service_points",
    "meter_devices",
    "bill_statements",
    "bill_sections",
)
CHILD_ENV = {
    "SECURE_SSL_REDIRECT": "0",
    "CDS_THROTTLE_CLIENT_RATE": "1000000/min",
    "LOG_LEVEL": "WARNING",
}


def ids(m: int) -> tuple[str, str, str, str]:
    """Meter ``m``'s account, contract, point and meter ids, as usage_bench names them."""
    return f"acc-{m:02d}", f"sc-{m:02d}", f"sp-{m:02d}", f"md-{m:02d}"


def middle() -> int:
    return METERS // 2


# -- the large document ---------------------------------------------------------------------


def days() -> list[Day]:
    """The 730 local days of usage_bench's two years, with each quarter-hour's local hour."""
    out = []
    for n in range(DAYS):
        day = FIRST_DAY + timedelta(days=n)
        start, end = local_midnight(day), local_midnight(day + timedelta(days=1))
        count = int((end - start).total_seconds()) // 900
        hours = tuple((start + timedelta(minutes=15 * i)).astimezone(LA).hour for i in range(count))
        out.append(Day(day.isoformat(), stamp(start), stamp(end), hours))
    return out


def meter_objects(m: int) -> dict[str, list[dict[str, Any]]]:
    """Everything but usage that usage_bench.document() gives meter ``m``."""
    part: dict[str, list] = {k: [] for k in HEADER_LISTS}
    usage_bench.meter_objects(part, m, META)
    return part


def segments(meters: int) -> Iterator[tuple[str, int]]:
    """Every segment as JSON text (and its value-set count), day by day, every meter each day:
    one meter's random stream (``random.Random(m)``, as usage_bench) continues across days."""
    meta = json.dumps(META, separators=(",", ":"))[1:-1]
    formats = json.dumps(FORMATS, separators=(",", ":"))
    heads = []
    for m in range(meters):
        acc, sc, sp, md = ids(m)
        related = (
            f'"related_accounts":["{acc}"],"related_servicecontracts":["{sc}"],'
            f'"related_servicepoints":["{sp}"],"related_meterdevices":["{md}"]'
        )
        heads.append((md, related, random.Random(m)))
    for day in days():
        tail = (
            f'"segment_start":"{day.start}","segment_end":"{day.end}","interval":900,'
            f'"formats":{formats},"values":'
        )
        for md, related, rng in heads:
            text = (
                f'{{"cds_usagesegment_id":"us-{md}-{day.iso}",{meta},{related},'
                f"{tail}{_values(rng, day.hours, True)}}}"
            )
            yield text, len(day.hours)


class Counter:
    """A file-like sink that only counts characters (the document is ASCII)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> None:
        self.bytes += len(text)


def write_document(out: IO[str] | Counter, meters: int) -> tuple[int, int]:
    """Write the document of ``meters`` meters piece by piece: the header lists through
    spool files (one pass over the meters), then the segments one by one. Nothing bigger
    than one meter's header objects or one segment is held. Returns (segments, value sets)."""
    spools = {name: VAR / f"bench-scale-{name}.part" for name in HEADER_LISTS}
    files = {name: path.open("w+", encoding="utf-8") for name, path in spools.items()}
    started: set[str] = set()
    try:
        for m in range(meters):
            for name, objects in meter_objects(m).items():
                for obj in objects:
                    files[name].write(("," if name in started else "") + exactjson.dumps(obj))
                    files[name].write("\n")
                    started.add(name)
        out.write("{")
        for name in HEADER_LISTS:
            out.write(f'"{name}":[\n')
            files[name].seek(0)
            while block := files[name].read(1 << 20):
                out.write(block)
            out.write("],\n")
    finally:
        for name, spool in files.items():
            spool.close()
            spools[name].unlink(missing_ok=True)
    out.write('"usage_segments":[\n')
    count = value_sets = 0
    for text, sets in segments(meters):
        out.write(("," if count else "") + text + "\n")
        count += 1
        value_sets += sets
    out.write("]}\n")
    return count, value_sets


def estimate_bytes(meters: int) -> int:
    """The document's size, from one meter's (written to a counter, not to disk)."""
    sink = Counter()
    write_document(sink, 1)
    return sink.bytes * meters


# -- databases and child processes ------------------------------------------------------------


def server_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"make bench-scale needs PostgreSQL (DATABASE_URL is {url!r})")
    return url


def names(url: str) -> tuple[str, str, str]:
    """(server base URL, the large database's name, the small one's)."""
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    return base, f"{name}_bench_scale", f"{name}_bench_scale_small"


def admin(url: str) -> Any:
    """An autocommit connection to the database DATABASE_URL names, only to create, drop,
    comment on and look up the benchmark's own databases."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


def recreate(url: str, name: str) -> None:
    from psycopg import sql

    assert name.endswith(("_bench_scale", "_bench_scale_small")), name
    with admin(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def marker(url: str, name: str) -> dict[str, Any] | None:
    """What the large database says it holds (its COMMENT, written after a complete load)."""
    with admin(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    if not row or not row[0]:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def set_marker(url: str, name: str, figures: dict[str, Any]) -> None:
    from psycopg import sql

    with admin(url) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(figures))
            )
        )


def vacuum(db_url: str) -> float:
    """VACUUM (ANALYZE) the usage tables: visibility map and statistics, as autovacuum would
    leave them, before any timing (so it does not run in the middle of one)."""
    began = time.perf_counter()
    with admin(db_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename LIKE 'usage\\_%'"
            )
        ]
        for table in tables:
            conn.execute(f'VACUUM (ANALYZE) "{table}"')
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def child_env(db_url: str) -> dict[str, str]:
    return {**CHILD_ENV, **os.environ, "DATABASE_URL": db_url}


def run(args: list[str], db_url: str, what: str) -> tuple[float, float, str]:
    """``python ARGS`` in a child on ``db_url``: wall seconds, its own peak RSS (MB, from
    ``os.wait4``) and its standard output; exits with its error output if it fails."""
    out_path, err_path = VAR / "bench-scale-child.out", VAR / "bench-scale-child.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=child_env(db_url), stdout=out, stderr=err
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        sys.exit(f"{what} failed ({proc.returncode}):\n{stderr[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout


def migrate(db_url: str) -> None:
    run([str(ROOT / "manage.py"), "migrate", "--noinput", "--verbosity", "0"], db_url, "migrate")


# -- disk -------------------------------------------------------------------------------------


def data_directory(url: str) -> Path | None:
    """The server's data directory, if it is on this machine and we may ask."""
    try:
        with admin(url) as conn:
            path = Path(conn.execute("SHOW data_directory").fetchone()[0])
        path.stat()
        return path
    except Exception:
        return None


def check_disk(url: str, file_bytes: int) -> dict[str, Any]:
    """Enough room for the document (var/) and the database (the server's data directory, when
    it is local), both on one disk if they share it; exits if not."""
    db_bytes = int(file_bytes * DB_PER_FILE_BYTE) + WAL_MARGIN
    needs: dict[Path, int] = {VAR: file_bytes}
    data = data_directory(url)
    if data is not None:
        if data.stat().st_dev == VAR.stat().st_dev:
            needs[VAR] += db_bytes
        else:
            needs[data] = db_bytes
    print(
        f"disk: the document needs ~{file_bytes / 1e9:.1f} GB under var/ (deleted after the "
        f"import unless BENCH_SCALE_KEEP=1), the database ~{db_bytes / 1e9:.1f} GB "
        f"(~{file_bytes * DB_PER_FILE_BYTE / 1e9:.1f} GB kept, plus WAL and slack)"
        + ("" if data else " on the server (its disk is not checked from here)")
    )
    for path, need in needs.items():
        free = shutil.disk_usage(path).free
        print(f"      {path}: {free / 1e9:.1f} GB free, needs {need / 1e9:.1f} GB")
        if free < need:
            sys.exit(f"not enough disk space under {path}: {free / 1e9:.1f} GB free")
    return {"document_gb": round(file_bytes / 1e9, 2), "database_gb": round(db_bytes / 1e9, 2)}


# -- the data sets ------------------------------------------------------------------------


def build_large(url: str, db_url: str, name: str) -> dict[str, Any]:
    """Generate the document under var/, import it with ``cds_import`` into a fresh
    database, vacuum; returns the figures (also written as the database's comment)."""
    recreate(url, name)
    migrate(db_url)
    path = VAR / f"bench-scale-{METERS}-v{GENERATOR_VERSION}.json"
    partial = path.with_suffix(".partial")
    print(f"large: generating {path.relative_to(ROOT)} ({METERS} meters x 2 years) ...")
    began = time.perf_counter()
    try:
        with partial.open("w", encoding="ascii", buffering=1 << 20) as out:
            count, value_sets = write_document(out, METERS)
        partial.replace(path)
        generated = time.perf_counter() - began
        size = path.stat().st_size
        print(
            f"large: generated in {generated:.0f} s: {size / 1e9:.2f} GB, {count:,} segments, "
            f"{value_sets:,} value sets; importing (manage.py cds_import, ~{size / 7e6 / 60:.0f} "
            "min) ..."
        )
        seconds, rss, _out = run(
            [str(ROOT / "manage.py"), "cds_import", str(path), "--no-progress"],
            db_url,
            "cds_import",
        )
    finally:
        partial.unlink(missing_ok=True)
        if not KEEP:
            path.unlink(missing_ok=True)
    print(f"large: imported in {seconds:.0f} s, peak RSS {rss:.0f} MB; vacuuming ...")
    vacuumed = vacuum(db_url)
    print(f"large: VACUUM (ANALYZE) {vacuumed:.0f} s" + (f"; kept {path}" if KEEP else ""))
    figures = {
        "generator": GENERATOR_VERSION,
        "meters": METERS,
        "segments": count,
        "value_sets": value_sets,
        "document_bytes": size,
        "generate_s": round(generated, 1),
        "import_s": round(seconds, 1),
        "import_peak_rss_mb": round(rss),
        "vacuum_s": round(vacuumed, 1),
    }
    set_marker(url, name, figures)
    return figures


def reusable(url: str, db_url: str, name: str) -> dict[str, Any] | None:
    """The large database's figures if it holds this generator's data set of METERS meters."""
    held = marker(url, name)
    if not held or held.get("generator") != GENERATOR_VERSION or held.get("meters") != METERS:
        print(f"large: {name} does not hold the data set of {METERS} meters; building it")
        return None
    import psycopg

    with psycopg.connect(db_url) as conn:
        found = conn.execute("SELECT count(*) FROM usage_usagesegment").fetchone()[0]
    if found != held["segments"]:
        print(f"large: {name} holds {found:,} segments, not {held['segments']:,}; building it")
        return None
    migrate(db_url)  # the tree may have new migrations
    print(f"large: reusing {name} ({found:,} segments; imported earlier in {held['import_s']} s)")
    return held


def load_small() -> None:
    """Child: usage_bench's 50-meter data set into DATABASE_URL, as api_bench loads it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
    import django

    django.setup()
    from cdsapi.importer.loader import load_document, parse_document

    doc = document()
    segments = len(doc["usage_segments"])
    value_sets = sum(len(seg["values"]) for seg in doc["usage_segments"])
    began = time.perf_counter()
    load_document(parse_document(exactjson.dumps(doc)))
    seconds = time.perf_counter() - began
    print(json.dumps({"segments": segments, "value_sets": value_sets, "load_s": seconds}))


# -- the timings (child) ----------------------------------------------------------------------

EXPLAIN_RUNS = 7
BUFFERS = re.compile(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?")


def serve(account: str) -> None:
    """Child: answer the orchestrator's commands, one a line on standard input, about the
    three requests on ``account``'s two-year meter in DATABASE_URL:

    - ``time NAME``: run request NAME once, answer its milliseconds;
    - ``inspect`` / ``explain``: answer each request's query count (and, for ``explain``, the
      EXPLAIN (ANALYZE, BUFFERS) of every segment query it sends), as JSON.

    Answers go to the original standard output, one line each; anything else printed goes to
    standard error."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
    import django

    django.setup()
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cdsapi.grants import lifecycle
    from cdsapi.models import Application, Grant

    app, _ = Application.objects.get_or_create(
        client_id="bench-scale",
        defaults={
            "name": "bench-scale",
            "client_type": "confidential",
            "authorization_grant_type": "client-credentials",
        },
    )
    Grant.objects.filter(client=app).delete()  # an earlier run's (tokens go with them)

    def token(entry: dict[str, Any]) -> str:
        grant = lifecycle.create_grant(app, [account], [entry])
        return lifecycle.issue_token(grant)[0]

    window = {
        "type": "cds_usage",
        "segment_start": stamp(local_midnight(MONTH[0])),
        "segment_end": stamp(local_midnight(MONTH[1])),
    }
    tokens = {
        "usage_page": token({"type": "cds_usage"}),
        "month_window": token(window),
        "monthly_2y": token({"type": "cds_usage", "aggregation_type": "monthly_aggregates"}),
    }
    http = Client()

    def request(name: str) -> Any:
        response = http.get(API, {"limit": "100"}, HTTP_AUTHORIZATION=f"Bearer {tokens[name]}")
        assert response.status_code == 200, (name, response.content[:300])
        return response

    for name in REQUESTS:
        items = len(json.loads(request(name).content)["usage_segments"])
        assert items == EXPECTED_ITEMS[name], (name, items, account)
    reply.write("ready\n")

    def explain(sql: str) -> dict[str, Any]:
        """The plan of the last of EXPLAIN_RUNS runs; its execution time is their median."""
        times = []
        for _ in range(EXPLAIN_RUNS):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            times.append(next(float(x.split()[-2]) for x in plan if x.startswith("Execution")))
        hit = read = 0
        for line in plan:  # the first Buffers line is the top node's: the whole query
            if match := BUFFERS.search(line):
                hit, read = int(match[1] or 0), int(match[2] or 0)
                break
        ms = statistics.median(times)
        return {"sql": sql, "plan": plan, "buffers": hit + read, "read": read, "ms": ms}

    def inspect(name: str, plans: bool) -> dict[str, Any]:
        captures = [CaptureQueriesContext(connections[alias]) for alias in connections]
        for capture in captures:
            capture.__enter__()
        try:
            request(name)
        finally:
            for capture in captures:
                capture.__exit__(None, None, None)
        found = [q["sql"] for capture in captures for q in capture.captured_queries]
        ours = [q for q in found if q.startswith("SELECT") and "usage_usagesegment" in q]
        out: dict[str, Any] = {"queries": len(found), "segment_queries": len(ours)}
        if plans and ours:
            explained = [explain(sql) for sql in ours]
            # The main query: the one that touches the most buffers.
            out["main"] = max(explained, key=lambda e: e["buffers"])
            out["all"] = [{"buffers": e["buffers"], "ms": e["ms"]} for e in explained]
        return out

    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "time":
            began = time.perf_counter()
            request(arg)
            reply.write(f"{(time.perf_counter() - began) * 1000}\n")
        elif command in ("inspect", "explain"):
            found = {name: inspect(name, command == "explain") for name in REQUESTS}
            reply.write(json.dumps(found) + "\n")
        else:
            break


class Worker:
    """A ``serve`` child on one data set."""

    def __init__(self, label: str, db_url: str, account: str) -> None:
        self.label = label
        self.errors = (VAR / f"bench-scale-{label}.err").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", account],
            cwd=ROOT,
            env=child_env(db_url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            bufsize=1,
        )
        self.answer(None)  # "ready"

    def answer(self, command: str | None) -> str:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.errors.seek(0)
            sys.exit(f"the {self.label} set's child failed:\n{self.errors.read()[-4000:]}")
        return line

    def time(self, name: str) -> float:
        return float(self.answer(f"time {name}"))

    def inspect(self, plans: bool) -> dict[str, Any]:
        return json.loads(self.answer("explain" if plans else "inspect"))

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()
        self.errors.close()
        Path(self.errors.name).unlink(missing_ok=True)


# -- sizes --------------------------------------------------------------------------------------


def sizes(db_url: str) -> dict[str, Any]:
    """Every usage_* table of the database: heap, table (heap, TOAST and maps), indexes, total,
    each index by name; in MB."""
    import psycopg

    out: dict[str, Any] = {}
    with psycopg.connect(db_url) as conn:
        tables = conn.execute(
            "SELECT c.oid, c.relname, pg_relation_size(c.oid), pg_table_size(c.oid), "
            "pg_indexes_size(c.oid), pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND c.relkind = 'r' AND c.relname LIKE 'usage\\_%' ORDER BY 6 DESC, 2"
        ).fetchall()
        for oid, table, heap, with_toast, indexes, total in tables:
            index_rows = conn.execute(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s "
                "ORDER BY 2 DESC, 1",
                [oid],
            ).fetchall()
            rows = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            out[table] = {
                "rows": rows,
                "heap": heap / MB,
                "table": with_toast / MB,
                "indexes": indexes / MB,
                "total": total / MB,
                "index": {index: size / MB for index, size in index_rows},
            }
        out["database_total"] = (
            conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / MB
        )
    return out


def rounded(value: Any, digits: int = 1) -> Any:
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return round(value, digits) if isinstance(value, float) else value


def per(value: Any, divisor: float) -> Any:
    if isinstance(value, dict):
        return {k: per(v, divisor) for k, v in value.items() if k != "rows"}
    return value / divisor


# -- the run ------------------------------------------------------------------------------


def spread(values: list[float]) -> float:
    """Interquartile range over the median, in %: how noisy the runs were."""
    q1, _q2, q3 = statistics.quantiles(values, n=4)
    return 100 * (q3 - q1) / statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--explain", action="store_true", help="Print the large set's plans.")
    parser.add_argument("--serve", metavar="ACCOUNT", help=argparse.SUPPRESS)
    parser.add_argument("--load-small", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.load_small:
        return load_small()
    if options.serve:
        return serve(options.serve)

    url = server_url()
    base, large_name, small_name = names(url)
    large_url, small_url = f"{base}/{large_name}", f"{base}/{small_name}"
    VAR.mkdir(exist_ok=True)
    began = time.perf_counter()
    load_before = os.getloadavg()
    print(
        f"scale bench: {small_name} (usage_bench's 50 meters) against {large_name} "
        f"({METERS} meters x 2 years); {os.cpu_count()} cores, load {load_before[0]:.2f}"
    )

    large = reusable(url, large_url, large_name) if REUSE else None
    reused = large is not None
    if large is None:
        check_disk(url, estimate_bytes(METERS))
        large = build_large(url, large_url, large_name)

    recreate(url, small_name)
    migrate(small_url)
    _s, _rss, out = run([__file__, "--load-small"], small_url, "loading the small data set")
    small = json.loads(out.strip().splitlines()[-1])
    vacuum(small_url)
    print(
        f"small: {small['segments']:,} segments, {small['value_sets']:,} value sets, "
        f"loaded in {small['load_s']:.1f} s"
    )

    accounts = {"small": ids(0)[0], "large": ids(middle())[0]}
    workers = {
        "small": Worker("small", small_url, accounts["small"]),
        "large": Worker("large", large_url, accounts["large"]),
    }
    samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in REQUESTS} for s in workers}
    for _ in range(WARMUP):
        for name in REQUESTS:
            for worker in workers.values():
                worker.time(name)
    for run_ in range(RUNS):
        # Each request on one set, then at once on the other (which goes first alternates),
        # so the machine's other load falls on both alike.
        order = ("small", "large") if run_ % 2 == 0 else ("large", "small")
        for name in REQUESTS:
            for label in order:
                samples[label][name].append(workers[label].time(name))
    inspected = {label: w.inspect(options.explain) for label, w in workers.items()}
    for worker in workers.values():
        worker.close()

    ms = {s: {n: statistics.median(samples[s][n]) for n in REQUESTS} for s in samples}
    ratios = {n: ms["large"][n] / ms["small"][n] for n in REQUESTS}
    scale_ratio = max(ratios.values())
    paired = {
        n: statistics.median(
            g / s for s, g in zip(samples["small"][n], samples["large"][n], strict=True)
        )
        for n in REQUESTS
    }
    noise = {s: {n: spread(samples[s][n]) for n in REQUESTS} for s in samples}

    if options.explain:
        for name in REQUESTS:
            found = inspected["large"][name]
            if "main" not in found:
                continue
            main_query = found["main"]
            others = ", ".join(f"{e['buffers']} buffers {e['ms']:.2f} ms" for e in found["all"])
            print(
                f"\n=== {name} (large set, {accounts['large']}): the main one (most buffers) of "
                f"its {found['segment_queries']} segment queries ({others})\n"
                f"    {main_query['sql'][:4000]}"
            )
            for line in main_query["plan"]:
                print("   ", line)

    size = sizes(large_url)
    meter_years = METERS * 2
    elapsed = time.perf_counter() - began

    print()
    print(
        f"{'data set':<8} {'meters':>6} {'segments':>10} {'value sets':>12}  "
        f"loaded (large: generated, imported by cds_import)"
    )
    print(
        f"{'small':<8} {SMALL_METERS:>6} {small['segments']:>10,} {small['value_sets']:>12,}  "
        f"load_document in {small['load_s']:.1f} s"
    )
    print(
        f"{'large':<8} {METERS:>6} {large['segments']:>10,} {large['value_sets']:>12,}  "
        f"{large['document_bytes'] / 1e9:.2f} GB generated in {large['generate_s']:.0f} s, "
        f"imported in {large['import_s']:.0f} s ({large['value_sets'] / large['import_s']:,.0f}"
        f" value sets/s), peak RSS {large['import_peak_rss_mb']} MB"
        + (" (by an earlier run: reused)" if reused else "")
    )
    print()
    head = (
        f"{'request (2-year meter)':<24} {'small ms':>9} {'large ms':>9} {'ratio':>6} "
        f"{'paired':>7} {'IQR% s/l':>11} {'queries':>7}"
    )
    if options.explain:
        head += f" {'buffers s/l':>13} {'SQL ms s/l':>13}"
    print(head)
    for name in REQUESTS:
        line = (
            f"{name:<24} {ms['small'][name]:>9.2f} {ms['large'][name]:>9.2f} "
            f"{ratios[name]:>6.2f} {paired[name]:>7.2f} "
            f"{noise['small'][name]:>5.0f}/{noise['large'][name]:<5.0f} "
            f"{inspected['large'][name]['queries']:>7}"
        )
        if options.explain and all("main" in inspected[s][name] for s in workers):
            s, g = (inspected[label][name]["main"] for label in ("small", "large"))
            line += f" {s['buffers']:>6}/{g['buffers']:<6} {s['ms']:>6.2f}/{g['ms']:<6.2f}"
        print(line)
    verdict = "ok" if scale_ratio <= TARGET else "MISSED"
    print(f"scale_ratio (worst large/small) {scale_ratio:.2f} (target <= {TARGET}) {verdict}")
    print(
        f"(medians of {RUNS} runs per request and set, after {WARMUP} warm-up runs; two child "
        f"processes, one per set, each request timed on one set and then at once on the other, "
        f"so the two sets share the machine's other load; paired = median of the {RUNS} "
        f"large/small pairs; IQR% = interquartile range / median; queries = the large set's "
        f"per request, every connection; load average {load_before[0]:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end)"
    )
    print()
    print(
        f"sizes of the large set ({METERS} meters x 2 years = {meter_years} meter-years), MB "
        f"(per meter-year in brackets)"
    )
    print(
        f"{'relation':<44} {'rows':>9} {'heap':>9} {'+TOAST':>9} {'indexes':>9} {'total':>9} "
        f"{'total/meter-yr':>14}"
    )
    for table, s in size.items():
        if table == "database_total":
            continue
        print(
            f"{table:<44} {s['rows']:>9,} {s['heap']:>9.1f} {s['table']:>9.1f} "
            f"{s['indexes']:>9.1f} {s['total']:>9.1f} {s['total'] / meter_years:>14.3f}"
        )
        for index, mb in s["index"].items():
            print(
                f"  {index:<42} {'':>9} {'':>9} {'':>9} {mb:>9.1f} {'':>9} "
                f"{mb / meter_years:>14.3f}"
            )
    usage_total = sum(s["total"] for t, s in size.items() if t != "database_total")
    print(
        f"usage tables {usage_total:,.0f} MB ({usage_total / meter_years:.2f} MB per meter-year);"
        f" whole database {size['database_total']:,.0f} MB; run took {elapsed / 60:.1f} min"
    )

    sizes_mb = {t: rounded(s) for t, s in size.items()}
    figures = {
        "database": "postgresql",
        "meters": METERS,
        "scale_ratio": round(scale_ratio, 2),
        "ratios": {n: round(v, 2) for n, v in ratios.items()},
        "ms_small": {n: round(v, 2) for n, v in ms["small"].items()},
        "ms_large": {n: round(v, 2) for n, v in ms["large"].items()},
        "noise_iqr_pct": {s: {n: round(v) for n, v in noise[s].items()} for s in noise},
        "paired_ratios": {n: round(v, 2) for n, v in paired.items()},
        "runs": RUNS,
        "queries": {n: inspected["large"][n]["queries"] for n in REQUESTS},
        "segments": large["segments"],
        "value_sets": large["value_sets"],
        "document_gb": round(large["document_bytes"] / 1e9, 2),
        "generate_s": large["generate_s"],
        "import_s": large["import_s"],
        "import_peak_rss_mb": large["import_peak_rss_mb"],
        "reused": reused,
        "sizes_mb": sizes_mb,
        "mb_per_meter_year": {
            "usage_total": round(usage_total / meter_years, 3),
            **{
                t: rounded(per(s, meter_years), 3) for t, s in size.items() if t != "database_total"
            },
        },
    }
    if options.explain:
        figures["buffers"] = {
            s: {n: inspected[s][n]["main"]["buffers"] for n in REQUESTS} for s in inspected
        }
        figures["sql_ms"] = {
            s: {n: inspected[s][n]["main"]["ms"] for n in REQUESTS} for s in inspected
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
