"""Bill statements and sections: date windows, flavors, account_number propagation."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Account
from bills.models import BillSection
from tests.factories import (
    AccountFactory,
    AccountVersionFactory,
    BillSectionFactory,
    BillStatementFactory,
    MeterDeviceFactory,
    ServiceContractFactory,
    ServicePointFactory,
)

BILLS = "cds_bill_statements"
MONEY_KEYS = {
    "currency",
    "amount",
    "amount_due",
    "cost",
    "rate",
    "balance",
    "previous_balance_amount",
    "previous_balance_paid",
    "previous_balance_unpaid",
    "new_charges_amount",
    "new_charges",
    "new_balance_amount",
    "shutoff_prevention_minimum_due",
    "cost_details",
    "line_items",
}


@pytest.fixture
def world(db):
    """acc-a with statements on the 5th of Jan..Apr 2025 (each with a section); acc-b one."""
    a = AccountFactory(cds_account_id="acc-a")
    AccountVersionFactory(account=a, account_number="111")
    for month in (1, 2, 3, 4):
        statement = BillStatementFactory(
            cds_billstatement_id=f"bst-a-{month}",
            account=a,
            statement_date=date(2025, month, 5),
            amount_due=Decimal("42.10"),
            new_charges=[
                {
                    "id": f"nc-{month}",
                    "name": "Electric",
                    "types": ["electric_total"],
                    "amount": Decimal("42.10"),
                    "included_in_amount_due": True,
                    "related_billsections": [f"bsec-a-{month}", "bsec-b-1"],
                }
            ],
        )
        BillSectionFactory(
            cds_billsection_id=f"bsec-a-{month}",
            statement=statement,
            start_date=date(2025, month, 1),
            related_billsections=["bsec-b-1"],
        )
    b = AccountFactory(cds_account_id="acc-b")
    AccountVersionFactory(account=b, account_number="222")
    BillSectionFactory(
        cds_billsection_id="bsec-b-1",
        statement=BillStatementFactory(cds_billstatement_id="bst-b-1", account=b),
    )


def keys_at_any_depth(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_at_any_depth(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_at_any_depth(v)}
    return set()


def ids(rows: list[dict], key: str) -> list[str]:
    return [r[key] for r in rows]


def test_statements_inside_the_inclusive_window_are_served(world, api, token_for) -> None:
    token = token_for(
        ["acc-a"],
        [{"type": BILLS, "statement_date_start": "2025-02-05", "statement_date_end": "2025-03-05"}],
    )
    rows = api.rows("bill-statements", token, "bill_statements")
    assert ids(rows, "cds_billstatement_id") == ["bst-a-3", "bst-a-2"]


def test_full_flavor_serves_money_exactly(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS}])
    response = api.get("bill-statements", token, cds_billstatement_ids="bst-a-1")
    assert b'"amount_due":42.10' in response.content
    [row] = response.data_["bill_statements"]
    assert row["new_charges"][0]["amount"] == Decimal("42.10")


def test_usage_only_responses_contain_no_money_at_any_depth(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS, "flavor": "usage_only"}])
    statements = api.rows("bill-statements", token, "bill_statements")
    sections = api.rows("bill-sections", token, "bill_sections")
    assert statements and sections
    assert not keys_at_any_depth(statements) & MONEY_KEYS
    assert not keys_at_any_depth(sections) & MONEY_KEYS
    assert set(statements[0]) == {
        "cds_billstatement_id",
        "cds_created",
        "cds_modified",
        "cds_synced",
        "cds_account_id",
        "statement_date",
    }
    assert "usage_details" in sections[0]


def test_amount_due_only_serves_the_amount_due_and_no_sections(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS, "flavor": "amount_due_only"}])
    [row, *_] = api.rows("bill-statements", token, "bill_statements")
    assert set(row) == {
        "cds_billstatement_id",
        "cds_created",
        "cds_modified",
        "cds_synced",
        "cds_account_id",
        "statement_date",
        "currency",
        "amount_due",
        "amount_due_date",
        "shutoff_prevention_minimum_due",
        "shutoff_prevention_date",
    }
    response = api.get("bill-sections", token)
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"


def test_two_entries_give_the_union_per_statement(world, api, token_for) -> None:
    token = token_for(
        ["acc-a"],
        [
            {"type": BILLS, "flavor": "full", "statement_date_end": "2025-01-31"},
            {"type": BILLS, "flavor": "usage_only"},
        ],
    )
    rows = {
        r["cds_billstatement_id"]: r for r in api.rows("bill-statements", token, "bill_statements")
    }
    assert len(rows) == 4
    assert "amount_due" in rows["bst-a-1"]
    assert "amount_due" not in rows["bst-a-2"]


def test_account_number_is_shown_only_when_an_accounts_entry_grants_it(
    world, api, token_for
) -> None:
    without = token_for(["acc-a"], [{"type": BILLS}])
    assert "account_number" not in api.rows("bill-statements", without, "bill_statements")[0]
    narrow = token_for(
        ["acc-a"],
        [{"type": BILLS}, {"type": "cds_current_accounts_details", "fields": ["account_name"]}],
    )
    assert "account_number" not in api.rows("bill-sections", narrow, "bill_sections")[0]
    granted = token_for(
        ["acc-a"],
        [{"type": BILLS}, {"type": "cds_current_accounts_details", "fields": ["account_number"]}],
    )
    assert api.rows("bill-statements", granted, "bill_statements")[0]["account_number"] == "111"
    assert api.rows("bill-sections", granted, "bill_sections")[0]["account_number"] == "111"


def test_account_numbers_filter_needs_the_field(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS}])
    response = api.get("bill-statements", token, account_numbers="111")
    assert response.status_code == 403
    granted = token_for(
        ["acc-a", "acc-b"],
        [{"type": BILLS}, {"type": "cds_current_accounts_details", "fields": ["account_number"]}],
    )
    rows = api.rows("bill-statements", granted, "bill_statements", account_numbers="222")
    assert ids(rows, "cds_billstatement_id") == ["bst-b-1"]


def test_references_to_other_accounts_sections_are_removed(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS}])
    [statement] = api.rows(
        "bill-statements", token, "bill_statements", cds_billstatement_ids="bst-a-2"
    )
    assert statement["new_charges"][0]["related_billsections"] == ["bsec-a-2"]
    [section] = api.rows("bill-sections", token, "bill_sections", cds_billsection_ids="bsec-a-2")
    assert section["related_billsections"] == []


def test_a_section_is_visible_only_if_its_statement_is(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS, "statement_date_start": "2025-03-01"}])
    rows = api.rows("bill-sections", token, "bill_sections")
    assert ids(rows, "cds_billsection_id") == ["bsec-a-3", "bsec-a-4"]


def test_before_and_after_filter_statements_and_sections(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS}])
    rows = api.rows(
        "bill-statements", token, "bill_statements", after="2025-02-05", before="2025-03-05"
    )
    assert ids(rows, "cds_billstatement_id") == ["bst-a-3", "bst-a-2"]
    sections = api.rows("bill-sections", token, "bill_sections", before="2025-02-01")
    assert ids(sections, "cds_billsection_id") == ["bsec-a-1", "bsec-a-2"]


def test_sections_are_ordered_by_account_then_start_date(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], [{"type": BILLS}])
    rows = api.rows("bill-sections", token, "bill_sections")
    assert ids(rows, "cds_billsection_id") == [
        "bsec-a-1",
        "bsec-a-2",
        "bsec-a-3",
        "bsec-a-4",
        "bsec-b-1",
    ]


def test_paging_returns_every_visible_row_exactly_once(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], [{"type": BILLS}])
    seen, response = [], api.get("bill-statements", token, limit=2)
    while True:
        seen += ids(response.data_["bill_statements"], "cds_billstatement_id")
        if not response.data_["next"]:
            break
        response = api.client.get(response.data_["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
        response.data_ = response.json()
    assert len(seen) == len(set(seen)) == 5
    assert seen == ids(
        api.rows("bill-statements", token, "bill_statements"), "cds_billstatement_id"
    )


def test_previous_links_back(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": BILLS}])
    second = api.get("bill-statements", token, limit=2, offset=2)
    assert second.data_["previous"].endswith("/bill-statements?limit=2")
    assert second.data_["next"] is None


def test_a_section_without_a_statement_is_windowed_by_its_own_dates(world, api, token_for) -> None:
    BillSectionFactory(
        cds_billsection_id="bsec-a-loose",
        statement=None,
        account=Account.objects.get(cds_account_id="acc-a"),
        start_date=date(2025, 5, 1),
        end_date=date(2025, 5, 31),
    )
    full = token_for(["acc-a"], [{"type": BILLS}])
    [loose] = api.rows("bill-sections", full, "bill_sections", cds_billsection_ids="bsec-a-loose")
    assert loose["cds_billstatement_id"] is None
    assert loose["line_items"]
    inside = token_for(["acc-a"], [{"type": BILLS, "statement_date_start": "2025-05-01"}])
    assert ids(api.rows("bill-sections", inside, "bill_sections"), "cds_billsection_id") == [
        "bsec-a-loose"
    ]
    for window in ({"statement_date_end": "2025-05-30"}, {"statement_date_start": "2025-05-02"}):
        partly = token_for(["acc-a"], [{"type": BILLS, **window}])
        rows = api.rows("bill-sections", partly, "bill_sections")
        assert "bsec-a-loose" not in ids(rows, "cds_billsection_id")


def test_a_section_whose_statement_belongs_to_another_account_is_hidden(
    world, api, token_for
) -> None:
    a = Account.objects.get(cds_account_id="acc-a")
    BillSectionFactory(
        cds_billsection_id="bsec-crossed",
        statement=BillStatementFactory(cds_billstatement_id="bst-b-2", account=AccountFactory()),
        account=a,
    )
    token = token_for(["acc-a"], [{"type": BILLS}])
    rows = api.rows("bill-sections", token, "bill_sections")
    assert "bsec-crossed" not in ids(rows, "cds_billsection_id")


def test_usage_only_keeps_only_usage_details_measured_in_a_non_money_unit(
    world, api, token_for
) -> None:
    details = [
        {
            "id": "kwh",
            "name": "kWh",
            "types": ["electric_usage"],
            "value": Decimal(3),
            "units": "kWh",
        },
        {"id": "cash", "name": "$", "types": ["estimated"], "value": Decimal(5), "units": "money"},
        {"id": "text", "name": "t", "types": ["estimated"], "value": "$666.66", "units": None},
        {"id": "text-kwh", "name": "t", "types": ["estimated"], "value": "$1", "units": "kWh"},
        {"id": "no-unit", "name": "n", "types": ["estimated"], "value": Decimal(7)},
    ]
    BillSection.objects.filter(cds_billsection_id="bsec-a-1").update(usage_details=details)
    usage_only = token_for(["acc-a"], [{"type": BILLS, "flavor": "usage_only"}])
    rows = api.rows("bill-sections", usage_only, "bill_sections", cds_billsection_ids="bsec-a-1")
    assert [d["id"] for d in rows[0]["usage_details"]] == ["kwh"]
    full = token_for(["acc-a"], [{"type": BILLS}])
    rows = api.rows("bill-sections", full, "bill_sections", cds_billsection_ids="bsec-a-1")
    assert [d["id"] for d in rows[0]["usage_details"]] == [d["id"] for d in details]


def test_a_sections_service_references_are_cut_to_the_selected_accounts(db, api, token_for) -> None:
    mine, theirs = AccountFactory(cds_account_id="acc-m"), AccountFactory(cds_account_id="acc-t")
    refs = {}
    for account in (mine, theirs):
        contract = ServiceContractFactory(account=account)
        point = ServicePointFactory()
        point.current_servicecontracts.add(contract)
        meter = MeterDeviceFactory()
        meter.current_servicepoints.add(point)
        refs[account.cds_account_id] = (
            contract.cds_servicecontract_id,
            point.cds_servicepoint_id,
            meter.cds_meterdevice_id,
        )
    BillSectionFactory(
        cds_billsection_id="bsec-m",
        statement=BillStatementFactory(account=mine),
        related_servicecontracts=[refs["acc-m"][0], refs["acc-t"][0]],
        related_servicepoints=[refs["acc-m"][1], refs["acc-t"][1]],
        related_meterdevices=[refs["acc-m"][2], refs["acc-t"][2]],
    )
    token = token_for(["acc-m"], [{"type": BILLS, "flavor": "usage_only"}])
    [row] = api.rows("bill-sections", token, "bill_sections")
    assert row["related_servicecontracts"] == [refs["acc-m"][0]]
    assert row["related_servicepoints"] == [refs["acc-m"][1]]
    assert row["related_meterdevices"] == [refs["acc-m"][2]]
