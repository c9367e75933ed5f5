"""Import benchmark (``make bench-import``): ``manage.py cds_import`` on large documents.

Generates usage-heavy CDS import documents of about 10 MB and 200 MB (and 1 GB with
``--huge`` or ``BENCH_IMPORT_HUGE=1``), and a Green Button (ESPI XML) feed of the 10 MB
document's meters and readings, under var/, then imports each into a fresh database of
the benchmark's own (a SQLite file under var/, or ``<name>_bench_import`` on the PostgreSQL
server ``DATABASE_URL`` names; the user's data is never touched), each in a child process
(``manage.py cds_import FILE --no-progress``), measuring:

- the child's wall time (the whole command: interpreter and Django start, reading the file,
  validation, writes, commit) and, from it, value sets per second;
- the child's own peak RSS (``os.wait4`` gives each child's ``ru_maxrss``, not the maximum
  over all children so far that ``getrusage(RUSAGE_CHILDREN)`` gives);
- on PostgreSQL, the floor: a warm ``COPY`` of the same usage rows (see ``copy_floor``) and
  ``copy_floor_ratio`` = import time / floor time, and ``copy_floor_ratio_after_start``, the
  same without the command's fixed cost (the child on an empty document: the interpreter and
  Django starting), which alone is several times a small document's floor.

A size the machine cannot take is skipped with the reason (memory and time are predicted
from the smaller sizes already measured: ``base + slope x file size``), never left to swap.
The documents are deterministic and reused while the generator's version is unchanged.
The table comes first; the last line is one JSON object.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import psutil

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# Bump when the generated documents change, so stale files under var/ are not reused.
GENERATOR_VERSION = 1
MB = 1_000_000
SIZES = {"10MB": 10 * MB, "200MB": 200 * MB}
HUGE = {"1GB": 1000 * MB}
LA = ZoneInfo("America/Los_Angeles")
FIRST_DAY = date(2024, 11, 1)  # a year of local days, both DST changes included
DAYS = 365
SOLAR_EVERY = 4  # every 4th meter is net-metered: net, forward and reverse formats
BILL_MONTHS = 3
# Peak RSS per byte of document before anything is measured: the 9.3 MB demo
# document peaks at 384 MB in today's importer (41x).
PRIOR_RSS_PER_BYTE = 41.0
# Leave this much of the available memory alone.
MEMORY_HEADROOM = 0.75
MAX_SECONDS = float(os.environ.get("BENCH_IMPORT_MAX_SECONDS", "300"))
FLOOR_RUNS = 3
GREEN_BUTTON_METERS = 10  # the 10 MB document's meters, as a Green Button feed


# -- the documents ------------------------------------------------------------------------

META = (
    '"cds_created":"2024-10-01T00:00:00Z","cds_modified":"2024-10-01T00:00:00Z",'
    '"cds_synced":"2025-11-02T06:00:00Z"'
)
# kWh in thousandths as decimal literals: "0.000" .. "9.999" (a table is much faster than
# formatting tens of millions of Decimals).
_KWH = [f"{i // 1000}.{i % 1000:03d}" for i in range(10_000)]


def _fmt(kind: str, direction: str) -> str:
    return (
        f'{{"id":"elec-{kind}-15m","type":"electric_usage","units":"kWh",'
        f'"direction":"{direction}","quality":"revenue"}}'
    )


FORMATS_PLAIN = f"[{_fmt('fwd', 'forward')}]"
FORMATS_SOLAR = f"[{_fmt('net', 'net')},{_fmt('fwd', 'forward')},{_fmt('rev', 'reverse')}]"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Day:
    iso: str
    start: str
    end: str
    hours: tuple[int, ...]  # local hour of each 15-minute value set (92, 96 or 100 of them)


def _days() -> list[Day]:
    days = []
    for n in range(DAYS):
        day = FIRST_DAY + timedelta(days=n)
        start = datetime.combine(day, datetime.min.time(), tzinfo=LA).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=LA).astimezone(
            UTC
        )
        count = int((end - start).total_seconds()) // 900
        hours = tuple((start + timedelta(minutes=15 * i)).astimezone(LA).hour for i in range(count))
        days.append(Day(day.isoformat(), _utc(start), _utc(end), hours))
    return days


def _values(rng: random.Random, hours: tuple[int, ...], solar: bool) -> str:
    """One day's value sets as JSON text: a home's 15-minute kWh, with rooftop solar if
    ``solar`` (net = forward + reverse, reverse negative); now and then a missing reading."""
    rand = rng.random
    out = []
    for hour in hours:
        if rand() < 0.0005:
            out.append("[null,null,null]" if solar else "[null]")
            continue
        use = int(40 + 260 * rand()) + (250 if 17 <= hour <= 21 else 0)
        if not solar:
            out.append(f'[{{"eu":{_KWH[use]}}}]')
            continue
        net = use - (int(900 * rand()) if 8 <= hour <= 17 else 0)
        if net >= 0:
            out.append(f'[{{"eu":{_KWH[net]}}},{{"eu":{_KWH[net]}}},{{"eu":0.000}}]')
        else:
            out.append(f'[{{"eu":-{_KWH[-net]}}},{{"eu":0.000}},{{"eu":-{_KWH[-net]}}}]')
    return "[" + ",".join(out) + "]"


def _meter_segments(m: int, days: list[Day]) -> Any:
    """Meter ``m``'s segments as JSON texts, one per local day, and their value-set counts."""
    rng = random.Random(f"bench-import-{m}")
    solar = m % SOLAR_EVERY == 0
    formats = FORMATS_SOLAR if solar else FORMATS_PLAIN
    acc, sc, sp, md = (f"{k}-{m:05d}" for k in ("acc", "sc", "sp", "md"))
    related = (
        f'"related_accounts":["{acc}"],"related_servicecontracts":["{sc}"],'
        f'"related_servicepoints":["{sp}"],"related_meterdevices":["{md}"]'
    )
    for day in days:
        yield (
            (
                f'{{"cds_usagesegment_id":"us-{md}-{day.iso}",{META},'
                f'"cds_account_id":"{acc}","cds_meterdevice_id":"{md}",{related},'
                f'"segment_start":"{day.start}","segment_end":"{day.end}","interval":900,'
                f'"formats":{formats},"values":{_values(rng, day.hours, solar)}}}'
            ),
            len(day.hours),
        )


def _header_objects(meters: int) -> dict[str, Callable[[], Any]]:
    """The lists before the usage: each a generator of JSON texts, one per object."""

    def accounts() -> Any:
        for m in range(meters):
            yield (
                f'{{"cds_account_id":"acc-{m:05d}",{META},"account_number":"9{m:07d}",'
                f'"account_name":"Bench Customer {m}","account_types":["customer","residential"],'
                f'"account_status":"active"}}'
            )

    def contracts() -> Any:
        for m in range(meters):
            yield (
                f'{{"cds_servicecontract_id":"sc-{m:05d}",{META},"cds_account_id":"acc-{m:05d}",'
                f'"contract_types":["utility_service"],"contract_status":"active",'
                f'"service_types":["electric","residential"]}}'
            )

    def points() -> Any:
        for m in range(meters):
            yield (
                f'{{"cds_servicepoint_id":"sp-{m:05d}",{META},"servicepoint_types":["electric"],'
                f'"current_servicecontracts":["sc-{m:05d}"],"timezone":"America/Los_Angeles"}}'
            )

    def meter_devices() -> Any:
        for m in range(meters):
            kind = "bidirectional" if m % SOLAR_EVERY == 0 else "forward_only"
            yield (
                f'{{"cds_meterdevice_id":"md-{m:05d}",{META},'
                f'"meter_types":["electric_usage","{kind}"],'
                f'"current_servicepoints":["sp-{m:05d}"]}}'
            )

    def bills() -> Any:
        for m in range(meters):
            for n in range(BILL_MONTHS):
                month = 8 + n
                due = f"{(m * 37 + n * 11) % 200 + 40}.{(m + n) % 100:02d}"
                yield (
                    f'{{"cds_billstatement_id":"bst-{m:05d}-2025-{month:02d}",{META},'
                    f'"cds_account_id":"acc-{m:05d}","statement_date":"2025-{month + 1:02d}-05",'
                    f'"currency":"USD","amount_due":{due},'
                    f'"amount_due_date":"2025-{month + 1:02d}-26"}}'
                )

    return {
        "accounts": accounts,
        "service_contracts": contracts,
        "service_points": points,
        "meter_devices": meter_devices,
        "bill_statements": bills,
    }


class _Counter:
    """A file-like sink that only counts."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> None:
        self.bytes += len(text.encode())


def _write(out: IO[str] | _Counter, meters: int, first: int = 0) -> int:
    """Write the document of ``meters`` meters (from meter ``first``) piece by piece: no
    list or string bigger than one segment is ever built. Returns the value sets written."""
    days = _days()
    value_sets = 0
    out.write("{")
    for name, objects in _header_objects(meters).items():
        out.write(f'"{name}":[\n')
        for n, text in enumerate(objects()):
            out.write(("," if n else "") + text + "\n")
        out.write("],")
    out.write('"usage_segments":[\n')
    n = 0
    for m in range(first, first + meters):
        for text, count in _meter_segments(m, days):
            out.write(("," if n else "") + text + "\n")
            value_sets += count
            n += 1
    out.write("]}\n")
    return value_sets


def _meters_for(target: int) -> int:
    """How many meters (a year each) make a document of about ``target`` bytes: the size of
    one cycle of meter kinds, measured without writing it."""
    sink = _Counter()
    _write(sink, SOLAR_EVERY)
    return max(1, round(target * SOLAR_EVERY / sink.bytes))


@dataclass
class Document:
    label: str
    path: Path
    bytes: int
    meters: int
    segments: int
    value_sets: int
    generated_s: float | None  # None: reused from an earlier run


def document(label: str, target: int) -> Document:
    """The document of about ``target`` bytes under var/, generated unless already there."""
    VAR.mkdir(exist_ok=True)
    path = VAR / f"bench-import-{label.lower()}-v{GENERATOR_VERSION}.json"
    sidecar = path.with_suffix(".meta.json")
    if path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("bytes") == path.stat().st_size:
            return Document(label, path, generated_s=None, **meta)
    began = time.perf_counter()
    meters = _meters_for(target)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8", buffering=1 << 20) as out:
        value_sets = _write(out, meters)
    partial.replace(path)
    meta = {
        "bytes": path.stat().st_size,
        "meters": meters,
        "segments": meters * DAYS,
        "value_sets": value_sets,
    }
    sidecar.write_text(json.dumps(meta))
    return Document(label, path, generated_s=time.perf_counter() - began, **meta)


# -- the benchmark database -------------------------------------------------------------


def fresh_database() -> str:
    """An empty, migrated database of the benchmark's own; returns its URL."""
    url = os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        path = VAR / "bench_import.sqlite3"
        for stale in (
            path,
            *(path.with_name(path.name + s) for s in ("-wal", "-shm")),
            *(VAR / f"bench_import-accesslog.sqlite3{s}" for s in ("", "-wal", "-shm")),
        ):
            stale.unlink(missing_ok=True)
        bench_url = f"sqlite:///{path}"
    else:
        import psycopg
        from psycopg import sql

        base, _, name = url.rpartition("/")
        bench_name = f"{name.split('?')[0]}_bench_import"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(bench_name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(bench_name)))
        bench_url = f"{base}/{bench_name}"
    child = run_child(["migrate", "--noinput", "--verbosity", "0"], bench_url)
    if child.status != 0:
        sys.exit(f"migrate failed:\n{child.stderr}")
    return bench_url


@dataclass
class Child:
    status: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(args: list[str], database_url: str) -> Child:
    """``manage.py ARGS`` in a child process on ``database_url``: its wall time and its own
    peak RSS (``os.wait4``'s rusage is that one child's)."""
    env = {**os.environ, "DATABASE_URL": database_url, "CONN_MAX_AGE": "0"}
    out_path, err_path = VAR / "bench-import-child.out", VAR / "bench-import-child.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Child(
        proc.returncode,
        seconds,
        usage.ru_maxrss / 1024,  # kilobytes on Linux
        out_path.read_text(),
        err_path.read_text(),
    )


# -- the COPY floor (PostgreSQL) ----------------------------------------------------------


def copy_floor(database_url: str) -> float:
    """Median seconds of a warm ``COPY`` of the imported usage rows, as stored.

    Covers exactly the rows of ``usage_usagesegment`` the import just wrote (every segment
    of the document, well over 99% of its bytes), pre-rendered as the importer stores them:
    they are read back from the table (``COPY (SELECT every column but id ...) TO STDOUT``)
    into a file under var/, so values_json, totals_json, formats_json and related_json are
    the importer's exact text. Each run empties the table (TRUNCATE, committed, not timed)
    and times ``COPY usage_usagesegment (...) FROM STDIN`` plus its COMMIT: the same table,
    with its unique key, its two (link, segment_start) indexes and its foreign keys checked,
    empty as in the fresh import. One warm-up run (the file is then in the page cache), then
    the median of FLOOR_RUNS. Not covered: the few hundred account, contract, point, meter,
    bill and series rows (the import time in the ratio includes them, and parsing and
    validating the document).
    """
    import psycopg
    from psycopg import sql

    rows = VAR / "bench-import-floor.copy"
    samples = []
    with psycopg.connect(database_url) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = "
                "'usage_usagesegment' AND column_name <> 'id' ORDER BY ordinal_position"
            )
        ]
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        with conn.cursor() as cur, rows.open("wb") as out:
            query = sql.SQL("COPY (SELECT {} FROM usage_usagesegment ORDER BY id) TO STDOUT")
            with cur.copy(query.format(cols)) as copy:
                for block in copy:
                    out.write(block)
        conn.commit()
        load = sql.SQL("COPY usage_usagesegment ({}) FROM STDIN").format(cols)
        for _ in range(1 + FLOOR_RUNS):
            conn.execute("TRUNCATE usage_usagesegment")
            conn.commit()
            began = time.perf_counter()
            with conn.cursor() as cur, cur.copy(load) as copy, rows.open("rb") as source:
                while block := source.read(1 << 20):
                    copy.write(block)
            conn.commit()
            samples.append(time.perf_counter() - began)
    rows.unlink()
    return statistics.median(samples[1:])


# -- Green Button ---------------------------------------------------------------------------


ESPI_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">\n'
    "<updated>2025-11-02T06:00:00Z</updated>\n"
    '<link rel="self" href="https://gb.bench.example/espi/1_1/resource/Batch/Subscription/1"/>\n'
)
ESPI_READING_TYPE = (
    '<entry><link rel="self" href="ReadingType/1"/><content><espi:ReadingType>'
    "<espi:accumulationBehaviour>4</espi:accumulationBehaviour><espi:commodity>1</espi:commodity>"
    "<espi:flowDirection>1</espi:flowDirection><espi:intervalLength>900</espi:intervalLength>"
    "<espi:kind>12</espi:kind><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>"
    "<espi:uom>72</espi:uom></espi:ReadingType></content></entry>\n"
)


def _espi_meter(m: int, days: list[Day]) -> Any:
    """Meter ``m``'s usage point, meter reading and one IntervalBlock per local day (15-minute
    Wh readings, the same counts per day as the JSON documents)."""
    rng = random.Random(f"bench-import-gb-{m}")
    point = f"UsagePoint/{m}"
    reading = f"{point}/MeterReading/1"
    yield (
        (
            f'<entry><link rel="self" href="{point}"/><link rel="related" href="{reading}"/>'
            "<content><espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind>"
            "</espi:ServiceCategory></espi:UsagePoint></content></entry>\n"
            f'<entry><link rel="self" href="{reading}"/>'
            f'<link rel="up" href="{point}/MeterReading"/>'
            f'<link rel="related" href="{reading}/IntervalBlock"/>'
            '<link rel="related" href="ReadingType/1"/>'
            "<content><espi:MeterReading/></content></entry>\n"
        ),
        0,
    )
    for n, day in enumerate(days):
        start = int(datetime.fromisoformat(day.start.replace("Z", "+00:00")).timestamp())
        readings = "".join(
            f"<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration>"
            f"<espi:start>{start + 900 * i}</espi:start></espi:timePeriod>"
            f"<espi:value>{int(40 + 260 * rng.random())}</espi:value></espi:IntervalReading>"
            for i in range(len(day.hours))
        )
        yield (
            (
                f'<entry><link rel="self" href="{reading}/IntervalBlock/{n}"/>'
                f'<link rel="up" href="{reading}/IntervalBlock"/><content><espi:IntervalBlock>'
                f"{readings}</espi:IntervalBlock></content></entry>\n"
            ),
            len(day.hours),
        )


def espi_feed(meters: int) -> tuple[Path, int]:
    """A Green Button feed of ``meters`` usage points, a year of quarter-hours each (as the
    10 MB JSON document's meters), under var/; and its number of readings."""
    path = VAR / f"bench-import-gb-{meters}-v{GENERATOR_VERSION}.xml"
    days = _days()
    readings = meters * sum(len(d.hours) for d in days)
    if path.exists():
        return path, readings
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(ESPI_HEAD + ESPI_READING_TYPE)
        for m in range(meters):
            for text, _count in _espi_meter(m, days):
                out.write(text)
        out.write("</feed>\n")
    partial.replace(path)
    return path, readings


@dataclass
class GreenButton:
    mb: float
    readings: int
    seconds: float
    peak_rss_mb: float


def green_button(meters: int) -> GreenButton:
    """Import a generated Green Button feed into a fresh database (its account first)."""
    path, readings = espi_feed(meters)
    url = fresh_database()
    account = VAR / "bench-import-gb-account.json"
    account.write_text(
        json.dumps({"accounts": [json.loads(f'{{"cds_account_id":"acc-gb",{META}}}')]})
    )
    setup = run_child(["cds_import", str(account), "--no-progress"], url)
    if setup.status != 0:
        sys.exit(f"cds_import {account} failed:\n{setup.stderr}")
    child = run_child(["cds_import", str(path), "--account", "acc-gb", "--no-progress"], url)
    if child.status != 0:
        sys.exit(f"cds_import {path} failed ({child.status}):\n{child.stderr[-3000:]}")
    return GreenButton(path.stat().st_size / MB, readings, child.seconds, child.peak_rss_mb)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Result:
    doc: Document
    seconds: float | None = None
    peak_rss_mb: float | None = None
    floor_s: float | None = None
    skipped: str | None = None


def predict(measured: list[tuple[int, float]], base: float, size: int, prior: float) -> float:
    """``base + slope x size``, the slope from the largest size measured (else ``prior``)."""
    if not measured:
        return base + prior * size
    biggest, value = max(measured)
    return base + max(0.0, value - base) / biggest * size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--huge", action="store_true", help="Also the 1 GB document.")
    options = parser.parse_args()
    huge = options.huge or os.environ.get("BENCH_IMPORT_HUGE", "") not in ("", "0")
    sizes = {**SIZES, **(HUGE if huge else {})}
    postgres = bool(os.environ.get("DATABASE_URL", "")) and not os.environ[
        "DATABASE_URL"
    ].startswith("sqlite")
    vendor = "postgresql" if postgres else "sqlite"

    # The command's fixed cost: the same child on an empty document.
    empty = VAR / "bench-import-empty.json"
    VAR.mkdir(exist_ok=True)
    empty.write_text("{}\n")
    startup = run_child(["cds_import", str(empty), "--no-progress"], fresh_database())
    if startup.status != 0:
        sys.exit(f"cds_import of an empty document failed:\n{startup.stderr}")

    results: list[Result] = []
    rss_seen: list[tuple[int, float]] = []
    time_seen: list[tuple[int, float]] = []
    for label, target in sizes.items():
        doc = document(label, target)
        note = f"generated in {doc.generated_s:.1f} s" if doc.generated_s else "reused"
        print(f"{label}: {doc.bytes / MB:.1f} MB, {doc.value_sets:,} value sets ({note})")
        result = Result(doc)
        results.append(result)
        need_mb = predict(rss_seen, startup.peak_rss_mb, doc.bytes, PRIOR_RSS_PER_BYTE / MB)
        free_mb = psutil.virtual_memory().available / 2**20
        need_s = predict(time_seen, startup.seconds, doc.bytes, 1 / MB)  # prior: 1 s per MB
        if need_mb > MEMORY_HEADROOM * free_mb:
            result.skipped = (
                f"skipped: would need ~{need_mb / 1024:.1f} GB ({free_mb / 1024:.1f} GB available)"
            )
        elif need_s > MAX_SECONDS:
            result.skipped = (
                f"skipped: would take ~{need_s / 60:.0f} min "
                f"(BENCH_IMPORT_MAX_SECONDS={MAX_SECONDS:.0f})"
            )
        if result.skipped:
            print(f"{label}: {result.skipped}")
            continue
        url = fresh_database()
        child = run_child(["cds_import", str(doc.path), "--no-progress"], url)
        if child.status != 0:
            sys.exit(f"cds_import {doc.path} failed ({child.status}):\n{child.stderr[-3000:]}")
        result.seconds, result.peak_rss_mb = child.seconds, child.peak_rss_mb
        rss_seen.append((doc.bytes, child.peak_rss_mb))
        time_seen.append((doc.bytes, child.seconds))
        if postgres:
            result.floor_s = copy_floor(url)
        print(
            f"{label}: imported in {child.seconds:.1f} s, peak RSS {child.peak_rss_mb:.0f} MB"
            + (f", COPY floor {result.floor_s:.2f} s" if result.floor_s else "")
        )

    print()
    head = (
        f"{'size':<6} {'file MB':>8} {'meters':>6} {'segments':>9} {'value sets':>11} "
        f"{'import s':>9} {'sets/s':>9} {'peak RSS MB':>12} {'RSS/file':>9}"
    )
    if postgres:
        head += f" {'COPY s':>7} {'ratio':>6}"
    print(head)
    figures: dict[str, Any] = {
        "database": vendor,
        "value_sets_per_s": {},
        "copy_floor_ratio": {} if postgres else None,
        "copy_floor_ratio_after_start": {} if postgres else None,
        "peak_rss_mb": {},
        "green_button_value_sets_per_s": None,
    }
    for r in results:
        d = r.doc
        line = (
            f"{d.label:<6} {d.bytes / MB:>8.1f} {d.meters:>6} {d.segments:>9} {d.value_sets:>11,}"
        )
        if r.skipped:
            print(f"{line}  {r.skipped}")
            for key in ("value_sets_per_s", "peak_rss_mb"):
                figures[key][d.label] = None
            if postgres:
                figures["copy_floor_ratio"][d.label] = None
                figures["copy_floor_ratio_after_start"][d.label] = None
            continue
        rate = d.value_sets / r.seconds
        line += (
            f" {r.seconds:>9.1f} {rate:>9,.0f} {r.peak_rss_mb:>12.0f} "
            f"{r.peak_rss_mb * 2**20 / d.bytes:>8.1f}x"
        )
        figures["value_sets_per_s"][d.label] = round(rate)
        figures["peak_rss_mb"][d.label] = round(r.peak_rss_mb)
        if postgres:
            ratio = r.seconds / r.floor_s
            line += f" {r.floor_s:>7.2f} {ratio:>6.1f}"
            figures["copy_floor_ratio"][d.label] = round(ratio, 1)
            after_start = (r.seconds - startup.seconds) / r.floor_s
            figures["copy_floor_ratio_after_start"][d.label] = round(after_start, 1)
        print(line)
    gb = green_button(GREEN_BUTTON_METERS)
    figures["green_button_value_sets_per_s"] = round(gb.readings / gb.seconds)
    figures["green_button_peak_rss_mb"] = round(gb.peak_rss_mb)
    print(
        f"{'GB XML':<6} {gb.mb:>8.1f} {GREEN_BUTTON_METERS:>6} {'':>9} {gb.readings:>11,} "
        f"{gb.seconds:>9.1f} {gb.readings / gb.seconds:>9,.0f} {gb.peak_rss_mb:>12.0f} "
        f"{gb.peak_rss_mb * 2**20 / (gb.mb * MB):>8.1f}x"
    )
    print(
        f"(database {vendor}; import s = wall time of the child `manage.py cds_import FILE "
        f"--no-progress`, of which {startup.seconds:.1f} s and {startup.peak_rss_mb:.0f} MB "
        f"peak RSS is the command on an empty document; peak RSS is that child's own "
        f"ru_maxrss; targets (issue 12): peak RSS < 250 MB at every size"
        + (", copy_floor_ratio <= 10)" if postgres else ")")
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
