"""The demo data set is deterministic, loads, and is internally consistent."""

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from cdsapi import exactjson
from cdsapi.demo.data import build_demo
from cdsapi.importer.loader import parse_document
from cdsapi.management.commands.cds_demo_data import DEMO_END

# Two weeks around the 2025 spring-forward (March 9) and the fall-back (November 2) days.
SPRING = date(2025, 3, 16)
FALL = date(2025, 11, 9)


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return build_demo(DEMO_END, usage_days=14, bill_months=36)


def test_the_generator_is_deterministic() -> None:
    assert build_demo(DEMO_END, 2, 2) == build_demo(DEMO_END, 2, 2)


def test_the_committed_sample_is_what_the_generator_writes(
    tmp_path: Path, sample_path: Path
) -> None:
    out = tmp_path / "sample.json"
    call_command("cds_demo_data", "--small", "--out", str(out))
    assert out.read_text() == sample_path.read_text()


def test_the_demo_has_the_promised_shape(demo: dict[str, Any]) -> None:
    assert len(demo["customers"]) >= 3
    accounts = {a["cds_account_id"]: a for a in demo["accounts"]}
    assert len(accounts) >= 6
    assert any(a["cds_account_parent"] for a in accounts.values())
    types = {t for a in accounts.values() for t in a["account_types"]}
    assert {"residential", "commercial", "parent", "child"} <= types
    statements = Counter(s["cds_account_id"] for s in demo["bill_statements"])
    assert set(statements.values()) == {36}
    assert len(statements) == len(accounts)
    services = {t for c in demo["service_contracts"] for t in c["service_types"]}
    assert {"electric", "natural_gas"} <= services
    parse_document(exactjson.dumps(demo))


def test_statements_add_up(demo: dict[str, Any]) -> None:
    sections = {s["cds_billsection_id"]: s for s in demo["bill_sections"]}
    for statement in demo["bill_statements"]:
        included = sum(c["amount"] for c in statement["new_charges"] if c["included_in_amount_due"])
        assert statement["previous_balance_unpaid"] + included == statement["amount_due"]
        for charge in statement["new_charges"]:
            (section_id,) = charge["related_billsections"]
            total = next(
                c["cost"]
                for c in sections[section_id]["cost_details"]
                if "overall_total" in c["types"]
            )
            assert sum(li["cost"] for li in sections[section_id]["line_items"]) == total
            assert total == charge["amount"]


def test_dst_days_have_92_and_100_quarter_hours(demo: dict[str, Any]) -> None:
    lengths = {
        s["cds_usagesegment_id"]: len(s["values"])
        for s in build_demo(SPRING, 14, 1)["usage_segments"]
        + build_demo(FALL, 14, 1)["usage_segments"]
    }
    assert lengths["us-r1e-2025-03-09"] == 92
    assert lengths["us-r1e-2025-11-02"] == 100
    assert lengths["us-r1e-2025-03-10"] == 96
    assert lengths["us-r1g-2025-11-02"] == 25


def test_net_metered_values_are_forward_plus_reverse(demo: dict[str, Any]) -> None:
    segments = [s for s in demo["usage_segments"] if s["cds_meterdevice_id"] == "md-r1e"]
    directions = [f["direction"] for f in segments[0]["formats"]]
    assert directions == ["net", "forward", "reverse"]
    exported = Decimal(0)
    for segment in segments:
        for value_set in segment["values"]:
            if value_set[0] is None:
                continue
            net, forward, reverse = (v["eu"] for v in value_set)
            assert net == forward + reverse
            assert forward >= 0 >= reverse
            exported += reverse
    assert exported < 0, "the solar home exports to the grid"


@pytest.mark.django_db
def test_the_sample_loads(sample_path: Path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")
