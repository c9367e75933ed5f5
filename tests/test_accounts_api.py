"""The Accounts API serves exactly the grant: selected accounts, granted fields, as of
``sync_date_end``; searching and filtering reveal nothing the grant hides."""

from datetime import UTC, datetime

import pytest

from tests.factories import AccountFactory, AccountVersionFactory

JAN = datetime(2025, 1, 1, tzinfo=UTC)
JUN = datetime(2025, 6, 1, tzinfo=UTC)
ACCOUNTS = "cds_current_accounts_details"


@pytest.fixture
def world(db):
    """acc-a (renamed in June), acc-b (a child of acc-a), acc-c (not shared), acc-late."""
    a = AccountFactory(cds_account_id="acc-a")
    AccountVersionFactory(
        account=a,
        cds_modified=JAN,
        account_name="Ada Old",
        account_number="111",
        customer_number=None,
    )
    AccountVersionFactory(
        account=a,
        cds_modified=JUN,
        account_name="Ada New",
        account_number="111",
        customer_number=None,
    )
    b = AccountFactory(cds_account_id="acc-b")
    AccountVersionFactory(
        account=b,
        parent=a,
        cds_modified=JAN,
        account_name="Bob",
        account_number="222",
        account_status="closed",
    )
    c = AccountFactory(cds_account_id="acc-c")
    AccountVersionFactory(account=c, cds_modified=JAN, account_name="Cy", account_number="333")
    late = AccountFactory(cds_account_id="acc-late")
    AccountVersionFactory(
        account=late, cds_created=JUN, cds_modified=JUN, account_name="Late", account_number="444"
    )


def grant(**entry):
    return [{"type": ACCOUNTS, **entry}]


def test_only_selected_accounts_are_served(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], grant())
    rows = api.rows("accounts", token, "accounts")
    assert sorted(r["cds_account_id"] for r in rows) == ["acc-a", "acc-b"]


def test_fields_not_granted_are_absent_and_granted_nulls_stay_null(world, api, token_for) -> None:
    token = token_for(["acc-a"], grant(fields=["account_name", "customer_number"]))
    [row] = api.rows("accounts", token, "accounts")
    assert set(row) == {
        "cds_account_id",
        "cds_created",
        "cds_modified",
        "cds_synced",
        "cds_account_parent",
        "account_name",
        "customer_number",
    }
    assert row["customer_number"] is None


def test_an_account_changed_after_sync_date_end_is_served_as_its_old_version(
    world, api, token_for
) -> None:
    token = token_for(["acc-a"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    [row] = api.rows("accounts", token, "accounts")
    assert row["account_name"] == "Ada Old"
    assert row["cds_modified"] == "2025-01-01T00:00:00Z"
    assert row["cds_synced"] <= "2025-03-01T00:00:00Z"


def test_an_account_created_after_sync_date_end_is_invisible(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-late"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    rows = api.rows("accounts", token, "accounts")
    assert [r["cds_account_id"] for r in rows] == ["acc-a"]
    assert api.rows("accounts", token, "accounts", cds_account_ids="acc-late") == []


def test_the_parent_is_shown_only_if_it_is_selected(world, api, token_for) -> None:
    alone = api.rows("accounts", token_for(["acc-b"], grant()), "accounts")
    assert alone[0]["cds_account_parent"] is None
    both = api.rows(
        "accounts", token_for(["acc-a", "acc-b"], grant()), "accounts", cds_account_ids="acc-b"
    )
    assert both[0]["cds_account_parent"] == "acc-a"


def test_two_entries_give_the_union_of_fields_each_as_of_its_own_cutoff(
    world, api, token_for
) -> None:
    token = token_for(
        ["acc-a"],
        [
            {"type": ACCOUNTS, "fields": ["account_name"], "sync_date_end": "2025-03-01T00:00:00Z"},
            {"type": ACCOUNTS, "fields": ["account_number"]},
        ],
    )
    [row] = api.rows("accounts", token, "accounts")
    assert row["account_name"] == "Ada Old"
    assert row["account_number"] == "111"
    assert row["cds_modified"] == "2025-06-01T00:00:00Z"


def test_q_matches_visible_fields(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], grant(fields=["account_name"]))
    assert [r["cds_account_id"] for r in api.rows("accounts", token, "accounts", q="bob")] == [
        "acc-b"
    ]


def test_q_does_not_match_hidden_fields(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], grant(fields=["account_name"]))
    assert api.rows("accounts", token, "accounts", q="222") == []


def test_q_does_not_match_values_newer_than_the_cutoff(world, api, token_for) -> None:
    token = token_for(["acc-a"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    assert api.rows("accounts", token, "accounts", q="Ada New") == []
    assert len(api.rows("accounts", token, "accounts", q="Ada Old")) == 1


def test_a_filter_on_a_hidden_field_is_insufficient_scope(world, api, token_for) -> None:
    token = token_for(["acc-a"], grant(fields=["account_name"]))
    response = api.get("accounts", token, account_numbers="111")
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"
    assert "account_number" in response.data_["error_description"]
    assert "insufficient_scope" in response["WWW-Authenticate"]


def test_filters_on_visible_fields_narrow_the_grant(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b"], grant())
    assert [
        r["cds_account_id"]
        for r in api.rows("accounts", token, "accounts", account_numbers="222 999")
    ] == ["acc-b"]
    assert [
        r["cds_account_id"]
        for r in api.rows("accounts", token, "accounts", account_statuses="closed")
    ] == ["acc-b"]


def test_ids_outside_the_grant_match_nothing(world, api, token_for) -> None:
    token = token_for(["acc-a"], grant())
    assert api.rows("accounts", token, "accounts", cds_account_ids="acc-c") == []
    assert api.rows("accounts", token, "accounts", cds_account_ids="acc-nope") == []
    assert api.rows("accounts", token, "accounts", account_numbers="333") == []


def test_accounts_are_ordered_by_cds_modified_descending(world, api, token_for) -> None:
    token = token_for(["acc-a", "acc-b", "acc-c"], grant())
    rows = api.rows("accounts", token, "accounts")
    assert [r["cds_account_id"] for r in rows] == ["acc-a", "acc-b", "acc-c"]


def test_a_token_without_the_accounts_scope_is_refused(world, api, token_for) -> None:
    token = token_for(["acc-a"], [{"type": "cds_bill_statements"}])
    response = api.get("accounts", token)
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"


def test_q_searches_contacts_only_when_they_are_granted(world, api, token_for) -> None:
    shown = token_for(["acc-a"], grant(fields=["account_contacts"]))
    assert len(api.rows("accounts", shown, "accounts", q="A@EXAMPLE")) == 1
    hidden = token_for(["acc-a"], grant(fields=["account_name"]))
    assert api.rows("accounts", hidden, "accounts", q="a@example") == []


def test_cds_created_is_served_as_of_the_cutoff(db, api, token_for) -> None:
    account = AccountFactory(cds_account_id="acc-r")
    AccountVersionFactory(account=account, cds_created=JAN, cds_modified=JAN)
    AccountVersionFactory(
        account=account, cds_created=datetime(2026, 2, 15, tzinfo=UTC), cds_modified=JUN
    )
    frozen = token_for(["acc-r"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    [row] = api.rows("accounts", frozen, "accounts")
    assert row["cds_created"] == "2025-01-01T00:00:00Z"
    current = token_for(["acc-r"], grant())
    assert api.rows("accounts", current, "accounts")[0]["cds_created"] == "2026-02-15T00:00:00Z"


def test_a_parent_that_did_not_exist_at_the_cutoff_is_not_named(db, api, token_for) -> None:
    parent = AccountFactory(cds_account_id="acc-p")
    AccountVersionFactory(account=parent, cds_modified=JUN)
    child = AccountFactory(cds_account_id="acc-k")
    AccountVersionFactory(account=child, parent=parent, cds_modified=JAN)
    frozen = token_for(["acc-p", "acc-k"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    [row] = api.rows("accounts", frozen, "accounts")
    assert row["cds_account_parent"] is None
    assert api.rows("accounts", frozen, "accounts", q="acc-p") == []
    current = token_for(["acc-p", "acc-k"], grant())
    rows = api.rows("accounts", current, "accounts", cds_account_ids="acc-k")
    assert rows[0]["cds_account_parent"] == "acc-p"


@pytest.fixture
def contacts(db):
    account = AccountFactory(cds_account_id="acc-ct")
    AccountVersionFactory(
        account=account,
        account_name="Zoë Ärger",
        account_address="Hauptstraße 1",
        account_contacts=[{"id": "ct-1", "types": ["email"], "value": "zoe@example.com"}],
        account_programs=[],
    )
    plain = AccountFactory(cds_account_id="acc-plain")
    AccountVersionFactory(
        account=plain, account_name="Plain", account_address="1 Elm St", account_contacts=[]
    )


@pytest.mark.parametrize("term", ['"value":', "value", "types", '{"id"', "[", "]", '"', ":", "id"])
def test_q_does_not_match_the_json_around_values(contacts, api, token_for, term) -> None:
    token = token_for(["acc-ct", "acc-plain"], grant())
    assert api.rows("accounts", token, "accounts", q=term) == []


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("zoe@example", ["acc-ct"]),
        ("ZOE@EXAMPLE.COM", ["acc-ct"]),
        ("email", []),
        ("ct-1", []),
        ("example.com", ["acc-ct"]),
        ("ärger", ["acc-ct"]),
        ("ÄRGER", ["acc-ct"]),
        ("zoë", ["acc-ct"]),
        ("HAUPTSTRASSE", ["acc-ct"]),
        ("plain", ["acc-plain"]),
        ("acc-", ["acc-ct", "acc-plain"]),
        ("ACC-CT", ["acc-ct"]),
        ("%", []),
        ("_", []),
    ],
)
def test_q_matches_values_alike_on_every_database(contacts, api, token_for, term, found) -> None:
    token = token_for(["acc-ct", "acc-plain"], grant())
    rows = api.rows("accounts", token, "accounts", q=term)
    assert sorted(r["cds_account_id"] for r in rows) == found


def test_cds_synced_is_capped_at_the_cutoff(db, api, token_for) -> None:
    account = AccountFactory(cds_account_id="acc-s")
    AccountVersionFactory(
        account=account, cds_modified=JAN, cds_synced=datetime(2026, 1, 1, tzinfo=UTC)
    )
    frozen = token_for(["acc-s"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    assert api.rows("accounts", frozen, "accounts")[0]["cds_synced"] == "2025-03-01T00:00:00Z"
    current = token_for(["acc-s"], grant())
    assert api.rows("accounts", current, "accounts")[0]["cds_synced"] == "2026-01-01T00:00:00Z"


def test_cds_synced_is_the_served_versions_own(db, api, token_for) -> None:
    """A later version's sync says nothing about the version served at the cutoff."""
    account = AccountFactory(cds_account_id="acc-v", cds_synced=datetime(2025, 12, 1, tzinfo=UTC))
    AccountVersionFactory(
        account=account, cds_modified=JAN, cds_synced=datetime(2025, 1, 2, tzinfo=UTC)
    )
    AccountVersionFactory(
        account=account, cds_modified=JUN, cds_synced=datetime(2025, 12, 1, tzinfo=UTC)
    )
    frozen = token_for(["acc-v"], grant(sync_date_end="2025-03-01T00:00:00Z"))
    assert api.rows("accounts", frozen, "accounts")[0]["cds_synced"] == "2025-01-02T00:00:00Z"


def test_q_matches_a_programs_number_but_not_its_other_values(db, api, token_for) -> None:
    account = AccountFactory(cds_account_id="acc-pg")
    AccountVersionFactory(
        account=account,
        account_programs=[
            {"id": "p-1", "program_number": "PRG-77", "types": ["rebate"], "name": "Solar Rebate"}
        ],
    )
    token = token_for(["acc-pg"], grant())
    assert [r["cds_account_id"] for r in api.rows("accounts", token, "accounts", q="prg-77")] == [
        "acc-pg"
    ]
    assert api.rows("accounts", token, "accounts", q="Solar Rebate") == []
    assert api.rows("accounts", token, "accounts", q="rebate") == []
