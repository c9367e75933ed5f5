"""Green Button (ESPI) feeds: the mapping to CDS, exactness, rejections, idempotency, safety."""

import re
import subprocess
import sys
import time
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, MeterDevice, ServicePoint
from bills.models import BillSection
from cdsapi.importer import espi
from cdsapi.importer.errors import DocumentError
from tests.test_import import META, database_snapshot, load
from usage.models import UsageSegment

FEEDS = Path(__file__).resolve().parent / "espi"
META_TEXT = ", ".join(f'"{k}": "{v}"' for k, v in META.items())
ROOT = Path(__file__).resolve().parent.parent


def convert(name: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("account", "acc-gb")
    return espi.convert(FEEDS / name, **kwargs).document


def segments(name: str, **kwargs: Any) -> list[dict[str, Any]]:
    return convert(name, **kwargs)["usage_segments"]


def column(seg: dict[str, Any], k: int = 0) -> list[Any]:
    return [None if row[k] is None else next(iter(row[k].values())) for row in seg["values"]]


@pytest.fixture
def account(db: Any) -> str:
    load({"accounts": [{"cds_account_id": "acc-gb", **META, "account_number": "GB-1"}]})
    return "acc-gb"


def run(*args: str) -> str:
    out = StringIO()
    call_command("cds_import", *map(str, args), "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


# -- the mapping ------------------------------------------------------------------------------


def test_fifteen_minute_electric_with_cost_across_two_blocks_in_one_content() -> None:
    [seg] = segments("electric-15min-cost.xml")
    assert (seg["segment_start"], seg["segment_end"]) == (
        "2025-06-02T07:00:00Z",
        "2025-06-02T08:30:00Z",
    )
    assert seg["interval"] == 900
    usage, cost = seg["formats"]
    assert usage["type"] == "electric_usage" and usage["units"] == "Wh"
    assert usage["direction"] == "forward" and usage["quality"] == "revenue"
    assert cost == {"id": cost["id"], "type": "cost", "currency": "USD", "indexes": [0]}
    assert column(seg) == [Decimal(v) for v in ("250", "310", "0", "1205", "480", "95")]
    assert [str(c) for c in column(seg, 1)] == [
        "0.03125", "0.03875", "0.00000", "0.15063", "0.06000", "0.01188",
    ]  # fmt: skip


def test_hourly_kwh_with_other_prefixes_relative_hrefs_and_timezone_option() -> None:
    doc = convert("electric-hourly.xml", timezone="America/Chicago")
    [seg] = doc["usage_segments"]
    assert seg["formats"][0]["units"] == "kWh" and seg["interval"] == 3600
    assert column(seg) == [Decimal(1), Decimal(2), Decimal(0), Decimal(3)]
    assert doc["service_points"][0]["timezone"] == "America/Chicago"
    no_zone = convert("electric-hourly.xml")
    assert no_zone["service_points"][0]["timezone"] is None


def test_daily_with_a_negative_power_of_ten_in_the_default_namespace_is_exact() -> None:
    doc = convert("electric-daily.xml")
    [seg] = doc["usage_segments"]
    assert seg["formats"][0]["units"] == "Wh"
    assert seg["formats"][0]["quality"] == "valid"
    assert [str(v) for v in column(seg)] == ["18250.125", "20.000", "0.007"]
    assert doc["service_points"][0]["timezone"] == "America/Phoenix"


def test_gas_in_therms_with_cost_not_scaled_by_the_power_of_ten() -> None:
    doc = convert("gas-therm.xml")  # entries in reverse order
    [seg] = doc["usage_segments"]
    assert seg["formats"][0]["type"] == "natural_gas_usage"
    assert seg["formats"][0]["units"] == "therm" and seg["formats"][0]["quality"] == "estimated"
    assert [str(v) for v in column(seg)] == ["37.000", "1.250"]
    assert [str(v) for v in column(seg, 1)] == ["51.00000", "1.72500"]
    assert doc["service_points"][0]["servicepoint_types"] == ["natural_gas"]
    assert doc["meter_devices"][0]["meter_types"] == ["natural_gas_usage"]


def test_water_in_gallons() -> None:
    doc = convert("water.xml")
    [seg] = doc["usage_segments"]
    assert (seg["formats"][0]["type"], seg["formats"][0]["units"]) == ("water_usage", "gal")
    assert column(seg) == [Decimal(142), Decimal(0), Decimal(95)]
    assert doc["service_contracts"][0]["service_types"] == ["water"]
    assert doc["service_points"][0]["timezone"] == "America/New_York"


def test_a_batch_feed_makes_a_contract_point_and_meter_per_usage_point() -> None:
    doc = convert("batch-two-points.xml")
    assert len(doc["service_points"]) == len(doc["meter_devices"]) == 2
    assert {c["cds_account_id"] for c in doc["service_contracts"]} == {"acc-gb"}
    electric, gas = doc["usage_segments"]
    assert electric["cds_meterdevice_id"] != gas["cds_meterdevice_id"]
    assert [str(v) for v in column(gas)] == ["2.75"]
    assert electric["formats"][0]["id"] != gas["formats"][0]["id"]


def test_net_metering_negates_reverse_flow_and_keeps_format_ids_apart() -> None:
    forward, reverse = segments("net-metering.xml")
    assert forward["formats"][0]["direction"] == "forward"
    assert reverse["formats"][0]["direction"] == "reverse"
    assert column(forward) == [Decimal(120), Decimal(0)]
    assert column(reverse) == [Decimal(0), Decimal(-340)]
    assert forward["formats"][0]["id"] != reverse["formats"][0]["id"]


def test_a_dst_day_read_gets_its_own_segment() -> None:
    runs = segments("dst-day.xml")
    assert [(s["segment_start"], s["interval"], len(s["values"])) for s in runs] == [
        ("2025-03-07T08:00:00Z", 86400, 2),
        ("2025-03-09T08:00:00Z", 82800, 1),
        ("2025-03-10T07:00:00Z", 86400, 1),
    ]


def test_customer_resources_make_the_account() -> None:
    doc = espi.convert(FEEDS / "customer.xml").document
    [acc] = doc["accounts"]
    assert acc["account_number"] == "77-4410-2093"
    assert acc["account_name"] == "Wren Halvorsen"
    assert acc["account_types"] == ["customer", "residential"]
    [contract] = doc["service_contracts"]
    assert contract["contract_number"] == "SA-55120"
    assert (contract["contract_start"], contract["contract_end"]) == ("2024-01-01", "2024-12-30")
    assert doc["service_points"][0]["servicepoint_address"] == "42, Quarry Road, Millbrook, XX"
    assert doc["meter_devices"][0]["meter_number"] == "RB-0098812"


def test_a_feed_without_customer_resources_needs_an_account() -> None:
    with pytest.raises(DocumentError, match="--account"):
        espi.convert(FEEDS / "water.xml")


def test_a_usage_summary_is_a_bill_section_without_a_statement() -> None:
    doc = convert("usage-summary.xml")
    [section] = doc["bill_sections"]
    assert section["cds_billstatement_id"] is None
    assert (section["start_date"], section["end_date"]) == ("2025-01-01", "2025-01-31")
    assert section["currency"] == "USD"
    assert section["cost_details"][0]["types"] == ["overall_total"]
    assert str(section["cost_details"][0]["cost"]) == "87.34500"
    [usage] = section["usage_details"]
    assert (usage["value"], usage["units"]) == (Decimal(612400), "Wh")
    assert [(i["types"], str(i["cost"])) for i in section["line_items"]] == [
        (["distribution"], "12.50000"),
        (["tax"], "4.12000"),
    ]
    [period] = doc["usage_segments"]
    assert period["interval"] == 31 * 86400 and period["related_billsections"] == [
        section["cds_billsection_id"]
    ]


def test_units_cds_cannot_express_are_rejected_with_the_path() -> None:
    with pytest.raises(DocumentError) as caught:
        convert("gas-ccf-rejected.xml")
    assert caught.value.path == "feed/entry[4]/content/ReadingType/uom"
    assert "uom 119" in caught.value.message and "has no CDS unit" in caught.value.message


def test_ids_are_stable_and_derived_from_the_self_href() -> None:
    assert convert("net-metering.xml") == convert("net-metering.xml")
    assert espi.short_id("sp", "UsagePoint", "https://x/UsagePoint/1") == espi.short_id(
        "sp", "UsagePoint", espi.normalize_href("https://X/UsagePoint/1/", None)
    )


def test_a_bad_value_is_reported_with_its_element_path() -> None:
    text = (FEEDS / "water.xml").read_text().replace("<espi:value>95<", "<espi:value>9.5<")
    with pytest.raises(DocumentError) as caught:
        espi.convert(text.encode(), account="acc-gb")
    assert caught.value.path == ("feed/entry[5]/content/IntervalBlock/IntervalReading[3]/value")


def test_milliseconds_timestamps_and_conflicting_duplicates_are_rejected() -> None:
    text = (FEEDS / "water.xml").read_text()
    first = "<espi:start>1746075600</espi:start></espi:timePeriod>"
    millis = text.replace(first, first.replace("1746075600", "1746075600000"))
    with pytest.raises(DocumentError, match="milliseconds"):
        espi.convert(millis.encode(), account="acc-gb")
    twice = text.replace("<espi:value>0<", "<espi:value>5<").encode()
    conflicting = text.replace("</espi:IntervalBlock>", _reading_again(twice))
    with pytest.raises(DocumentError, match="conflicts with"):
        espi.convert(conflicting.encode(), account="acc-gb")


def _reading_again(_: bytes) -> str:
    return (
        "<espi:IntervalReading><espi:timePeriod><espi:duration>86400</espi:duration>"
        "<espi:start>1746162000</espi:start></espi:timePeriod><espi:value>7</espi:value>"
        "</espi:IntervalReading></espi:IntervalBlock>"
    )


def test_an_unknown_dst_rule_needs_the_timezone_option() -> None:
    text = (
        (FEEDS / "water.xml")
        .read_text()
        .replace("<espi:tzOffset>-18000<", "<espi:tzOffset>-12600<")
    )
    with pytest.raises(DocumentError, match="--timezone"):
        espi.convert(text.encode(), account="acc-gb")
    doc = espi.convert(text.encode(), account="acc-gb", timezone="America/St_Johns").document
    assert doc["service_points"][0]["timezone"] == "America/St_Johns"


# -- the command ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_is_detected_by_content_and_idempotent(account: str, tmp_path: Path) -> None:
    feed = tmp_path / "download.dat"  # no .xml: detected by its first byte
    body = (FEEDS / "electric-15min-cost.xml").read_bytes().split(b"\n", 1)[1]
    feed.write_bytes(b"\n  " + body)  # leading space, no XML declaration
    out = run(feed, "--account", account)
    assert "usage_segments: 1 created" in out
    seg = UsageSegment.objects.get()
    assert seg.account.cds_account_id == account
    assert ServicePoint.objects.get().timezone == "America/Los_Angeles"
    assert "Nothing changed." in run(feed, "--account", account)


@pytest.mark.django_db
def test_format_option_forces_the_reader(account: str, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not valid JSON"):
        run(FEEDS / "water.xml", "--format", "json")
    run(FEEDS / "water.xml", "--format", "espi", "--account", account)
    assert UsageSegment.objects.count() == 1
    with pytest.raises(CommandError, match="no account"):
        run(FEEDS / "water.xml", "--account", "acc-missing")


@pytest.mark.django_db
def test_customer_feed_creates_its_account(db: Any) -> None:
    run(FEEDS / "customer.xml")
    assert Account.objects.count() == 1
    assert MeterDevice.objects.get().meter_number == "RB-0098812"
    assert "Nothing changed." in run(FEEDS / "customer.xml")


@pytest.mark.django_db
def test_usage_summary_imports_as_a_section(account: str) -> None:
    run(FEEDS / "usage-summary.xml", "--account", account)
    section = BillSection.objects.get()
    assert section.statement_id is None


@pytest.mark.django_db
def test_a_broken_feed_leaves_the_database_unchanged(account: str, tmp_path: Path) -> None:
    run(FEEDS / "water.xml", "--account", account)
    before = database_snapshot()
    for name in ("gas-ccf-rejected.xml", "electric-15min-cost.xml"):
        text = (FEEDS / name).read_text()
        broken = tmp_path / name
        broken.write_text(text.replace("</espi:IntervalBlock>", "", 1))
        with pytest.raises(CommandError):
            run(broken, "--account", account)
    with pytest.raises(CommandError, match="uom 119"):
        run(FEEDS / "gas-ccf-rejected.xml", "--account", account)
    assert database_snapshot() == before


HOSTILE = {
    "billion-laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol3;</title></feed>""",
    "external-entity": b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&secret;</title></feed>""",
    "doctype": b"""<!DOCTYPE feed SYSTEM "http://example.invalid/espi.dtd">
<feed xmlns="http://www.w3.org/2005/Atom"/>""",
    "undefined-entity": b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>&x;</title></feed>""",
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_with_nothing_written(
    account: str, tmp_path: Path, name: str
) -> None:
    before = database_snapshot()
    path = tmp_path / f"{name}.xml"
    path.write_bytes(HOSTILE[name])
    with pytest.raises(CommandError) as caught:
        run(path, "--account", account)
    assert "passwd" not in str(caught.value) or name != "external-entity"
    assert "root:" not in str(caught.value)
    assert database_snapshot() == before


def test_a_100_mb_text_node_is_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as out:
        out.write(b'<feed xmlns="http://www.w3.org/2005/Atom"><title>')
        chunk = b"A" * (1 << 20)
        for _ in range(100):
            out.write(chunk)
        out.write(b"</title></feed>")
    script = (
        "import sys\n"
        "from cdsapi.importer import espi\n"
        "from cdsapi.importer.errors import DocumentError\n"
        "try:\n"
        "    espi.convert(sys.argv[1], account='a')\n"
        "    print('accepted')\n"
        "except DocumentError as exc:\n"
        "    print('refused', exc)\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(status.split()[0])\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True, text=True, cwd=ROOT, env={"SECRET_KEY": "x", "PATH": ""},
        timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("refused"), done.stdout + done.stderr
    # The peak (kB; VmHWM, since ru_maxrss survives exec from the test process) stays far
    # below the 100 MB node: libxml2 stops at 10 MB.
    assert int(lines[-1]) < 100 * 1024, lines
    assert elapsed < 20


# -- served through the API --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_serves_imported_usage(account: str, api: Any, token_for: Any) -> None:
    run(FEEDS / "net-metering.xml", "--account", account)
    token = token_for([account], [{"type": "cds_usage"}])
    rows = api.rows("usage-segments", token, "usage_segments")
    by_direction = {r["formats"][0]["direction"]: r for r in rows}
    assert [v[0]["eu"] for v in by_direction["reverse"]["values"]] == [Decimal(0), Decimal(-340)]
    assert [v[0]["eu"] for v in by_direction["forward"]["values"]] == [Decimal(120), Decimal(0)]
    assert by_direction["forward"]["related_accounts"] == [account]


# -- streaming: memory does not grow with the feed ------------------------------------------


def write_feed(path: Path, days: int) -> int:
    """A feed of one usage point with ``days`` daily blocks of 96 quarter-hours, written a
    block at a time; returns its number of readings."""
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    with path.open("w") as out:
        out.write(
            '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">'
            '<link rel="self" href="https://gb.example/espi/1_1/resource/Subscription/1"/>'
            '<entry><link rel="self" href="UsagePoint/1"/>'
            '<link rel="related" href="UsagePoint/1/MeterReading"/><content><espi:UsagePoint>'
            "<espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory>"
            "</espi:UsagePoint></content></entry>"
            '<entry><link rel="self" href="UsagePoint/1/MeterReading/1"/>'
            '<link rel="up" href="UsagePoint/1/MeterReading"/>'
            '<link rel="related" href="UsagePoint/1/MeterReading/1/IntervalBlock"/>'
            '<link rel="related" href="ReadingType/1"/><content><espi:MeterReading/></content>'
            '</entry><entry><link rel="self" href="ReadingType/1"/><content><espi:ReadingType>'
            "<espi:accumulationBehaviour>4</espi:accumulationBehaviour>"
            "<espi:flowDirection>1</espi:flowDirection><espi:kind>12</espi:kind>"
            "<espi:powerOfTenMultiplier>-3</espi:powerOfTenMultiplier><espi:uom>72</espi:uom>"
            "</espi:ReadingType></content></entry>"
        )
        for day in range(days):
            out.write(
                f'<entry><link rel="self" href="UsagePoint/1/MeterReading/1/IntervalBlock/{day}"/>'
                '<link rel="up" href="UsagePoint/1/MeterReading/1/IntervalBlock"/>'
                "<content><espi:IntervalBlock>"
            )
            for q in range(96):
                at = start + (day * 96 + q) * 900
                out.write(
                    "<espi:IntervalReading><espi:timePeriod><espi:duration>900</espi:duration>"
                    f"<espi:start>{at}</espi:start></espi:timePeriod>"
                    f"<espi:value>{(day + q) % 700 + 100}</espi:value></espi:IntervalReading>"
                )
            out.write("</espi:IntervalBlock></content></entry>")
        out.write("</feed>")
    return days * 96


def test_a_feed_six_times_larger_imports_in_the_same_memory(tmp_path: Path) -> None:
    """The child's peak RSS stays flat from a 2 MB to a 12 MB feed (read whole, a feed took
    several times its size in readings, segments and the document)."""
    import os
    import shutil

    from tests.test_import import run_child

    migrated = tmp_path / "migrated.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{migrated}", "SECRET_KEY": "x"}
    run_child(["migrate", "-v0"], env, tmp_path)
    account = tmp_path / "account.json"
    account.write_text('{"accounts": [{"cds_account_id": "acc-gb", ' + META_TEXT + "}]}")
    peaks = {}
    for days in (120, 720):
        feed = tmp_path / f"feed-{days}.xml"
        readings = write_feed(feed, days)
        database = tmp_path / f"import-{days}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{migrated}{suffix}").exists():
                shutil.copyfile(f"{migrated}{suffix}", f"{database}{suffix}")
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "x"}
        run_child(["cds_import", str(account), "--no-progress"], env, tmp_path)
        args = ["cds_import", str(feed), "--account", "acc-gb", "--no-progress"]
        out, peaks[days] = run_child(args, env, tmp_path)
        segments = -(-readings // espi.MAX_RUN)  # one run, cut every MAX_RUN readings
        assert f"usage_segments: {segments} created" in out
    growth_mb = (peaks[720] - peaks[120]) / 1024
    assert growth_mb < 30, f"peak RSS grew by {growth_mb:.0f} MB: {peaks}"


def test_a_bare_entry_is_a_feed_of_one_resource() -> None:
    entry = (
        '<entry xmlns="http://www.w3.org/2005/Atom" xmlns:e="http://naesb.org/espi">'
        '<link rel="self" href="https://gb.example/espi/1_1/resource/UsagePoint/9"/>'
        "<content><e:UsagePoint><e:ServiceCategory><e:kind>2</e:kind></e:ServiceCategory>"
        "</e:UsagePoint></content></entry>"
    )
    conversion = espi.convert(entry.encode(), account="acc-gb", timezone="America/Denver")
    [point] = conversion.document["service_points"]
    assert point["servicepoint_types"] == ["water"] and point["timezone"] == "America/Denver"
    assert conversion.notes == ["entry[1]/content/UsagePoint: a UsagePoint without MeterReadings"]


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("<espi:value>0<", "<espi:value>\u0661\u0660\u0660<", "/value", "expected an integer"),
        (
            "<espi:start>1746075600</espi:start></espi:timePeriod>",
            "<espi:start>-100000000000</espi:start></espi:timePeriod>",
            "timePeriod/start",
            "looks like milliseconds",
        ),
        (
            "<espi:start>1746075600</espi:start></espi:timePeriod>",
            "<espi:start>-40000000000</espi:start></espi:timePeriod>",
            "timePeriod/start",
            "before the year 1000",
        ),
        (
            "<espi:powerOfTenMultiplier>",
            "<espi:powerOfTenMultiplier>-200",
            "ReadingType/powerOfTenMultiplier",
            "not an ESPI power of ten",
        ),
    ],
    ids=["arabic-indic-digits", "negative-milliseconds", "before-year-1000", "power-200"],
)
def test_numbers_a_feed_cannot_mean_are_refused_with_the_element(
    old: str, new: str, path: str, message: str
) -> None:
    text = (FEEDS / "water.xml").read_text()
    if old == "<espi:powerOfTenMultiplier>":
        text = re.sub(r"<espi:powerOfTenMultiplier>[^<]*", new, text, count=1)
    else:
        assert old in text
        text = text.replace(old, new, 1)
    with pytest.raises(DocumentError) as error:
        espi.convert(text.encode(), account="acc-gb")
    assert path in error.value.path and message in error.value.message


@pytest.mark.django_db
def test_one_feed_imported_for_two_accounts_gives_each_its_own_objects(tmp_path: Path) -> None:
    load({"accounts": [{"cds_account_id": a, **META} for a in ("acc-gb", "acc-other")]})
    run(FEEDS / "water.xml", "--account", "acc-gb")
    run(FEEDS / "water.xml", "--account", "acc-other")
    for account in ("acc-gb", "acc-other"):
        assert UsageSegment.objects.filter(account__cds_account_id=account).exists()
        assert ServicePoint.objects.filter(
            current_servicecontracts__account__cds_account_id=account
        ).exists()


def test_a_negative_reverse_flow_reading_is_refused() -> None:
    text = (FEEDS / "net-metering.xml").read_text().replace("<espi:value>", "<espi:value>-")
    with pytest.raises(DocumentError, match="a reverse-flow reading is negative"):
        espi.convert(text.encode(), account="acc-gb")


def test_a_utf16_feed_is_recognised_as_xml(account: str, tmp_path: Path) -> None:
    feed = tmp_path / "utf16.xml"
    text = (FEEDS / "water.xml").read_text().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    feed.write_bytes(text.encode("utf-16"))
    assert "usage_segments: " in run(feed, "--account", account)


def test_an_integer_longer_than_64_bits_and_an_impossible_updated_are_handled() -> None:
    text = (FEEDS / "water.xml").read_text()
    long = re.sub(r"<espi:value>[^<]*", "<espi:value>" + "9" * 5000, text, count=1)
    with pytest.raises(DocumentError, match="more digits than an ESPI integer"):
        espi.convert(long.encode(), account="acc-gb")
    late = re.sub(r"<updated>[^<]*", "<updated>9999-12-31T23:59:59-05:00", text)
    espi.convert(late.encode(), account="acc-gb")  # an unreadable time is no time
