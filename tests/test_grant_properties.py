"""Property: over random data and random grants, every response holds exactly the rows,
fields, values and dates the grant allows (an independent oracle in plain Python)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cdsapi import exactjson
from cdsapi.grants import lifecycle
from tests.conftest import Api
from tests.factories import (
    T0,
    AccountFactory,
    AccountVersionFactory,
    ApplicationFactory,
    BillSectionFactory,
    BillStatementFactory,
)

# The oracle's own copy of SPEC §2.1 and §2.2 (not the policy's tables).
ACCOUNT_ALWAYS = {
    "cds_account_id",
    "cds_created",
    "cds_modified",
    "cds_synced",
    "cds_account_parent",
}
META = {"cds_created", "cds_modified", "cds_synced"}
STATEMENT_FIELDS = {
    "full": META
    | {
        "cds_billstatement_id",
        "cds_account_id",
        "statement_date",
        "currency",
        "file_uri",
        "file_mimetype",
        "previous_balance_amount",
        "previous_balance_paid",
        "previous_balance_unpaid",
        "new_charges_amount",
        "new_charges",
        "new_balance_amount",
        "amount_due",
        "amount_due_date",
        "shutoff_prevention_minimum_due",
        "shutoff_prevention_date",
        "account_programs",
    },
    "usage_only": META | {"cds_billstatement_id", "cds_account_id", "statement_date"},
    "amount_due_only": META
    | {
        "cds_billstatement_id",
        "cds_account_id",
        "statement_date",
        "currency",
        "amount_due",
        "amount_due_date",
        "shutoff_prevention_minimum_due",
        "shutoff_prevention_date",
    },
}
SECTION_IDS = META | {
    "cds_billsection_id",
    "cds_billstatement_id",
    "cds_account_id",
    "section_types",
    "start_date",
    "end_date",
    "related_servicecontracts",
    "related_servicepoints",
    "related_meterdevices",
    "related_billsections",
}
SECTION_FIELDS = {
    "full": SECTION_IDS
    | {
        "currency",
        "distribution_entity",
        "supply_entity",
        "usage_details",
        "cost_details",
        "line_items",
    },
    "usage_only": SECTION_IDS | {"usage_details"},
}
BASE = datetime(2024, 1, 1, tzinfo=UTC)
FIELDS = ["account_number", "account_name", "account_status", "customer_number"]
NOW_DAY = 2000  # every generated day lies before "now" (2029 and later is never drawn)


def day(n: int) -> datetime:
    return BASE + timedelta(days=n)


accounts_st = st.lists(
    st.tuples(
        st.lists(st.integers(0, 400), min_size=1, max_size=3, unique=True).map(sorted),
        st.lists(st.tuples(st.integers(0, 500), st.booleans()), max_size=4),
    ),
    min_size=1,
    max_size=4,
)
account_entry_st = st.fixed_dictionaries(
    {
        "fields": st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True),
        "cutoff": st.one_of(st.none(), st.integers(0, 450)),
    }
)
bounds_st = st.tuples(
    st.one_of(st.none(), st.integers(0, 500)), st.one_of(st.none(), st.integers(0, 500))
).map(lambda b: b if None in b or b[0] <= b[1] else (b[1], b[0]))
bill_entry_st = st.fixed_dictionaries(
    {
        "bounds": bounds_st,
        "flavor": st.sampled_from(["full", "usage_only", "amount_due_only"]),
    }
)
grant_st = st.tuples(
    st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
    st.lists(account_entry_st, max_size=2),
    st.lists(bill_entry_st, max_size=2),
).filter(lambda g: g[1] or g[2])


class GrantPropertyTests(TestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(accounts=accounts_st, grant=grant_st)
    def test_responses_never_leave_the_grant(self, accounts, grant) -> None:
        world = self.build(accounts)
        selected_idx, account_entries, bill_entries = grant
        selected = [f"acc-{i}" for i in selected_idx if i < len(accounts)] or ["acc-0"]
        details = [
            {
                "type": "cds_current_accounts_details",
                "fields": e["fields"],
                "sync_date_end": "infinite"
                if e["cutoff"] is None
                else day(e["cutoff"]).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for e in account_entries
        ] + [
            {
                "type": "cds_bill_statements",
                "flavor": e["flavor"],
                "statement_date_start": "infinite"
                if e["bounds"][0] is None
                else day(e["bounds"][0]).date().isoformat(),
                "statement_date_end": "infinite"
                if e["bounds"][1] is None
                else day(e["bounds"][1]).date().isoformat(),
            }
            for e in bill_entries
        ]
        token, _ = lifecycle.issue_token(
            lifecycle.create_grant(ApplicationFactory(), selected, details)
        )
        api = Api()
        self.check_accounts(api, token, world, selected, account_entries)
        self.check_statements(api, token, world, selected, account_entries, bill_entries)
        self.check_sections(api, token, world, selected, bill_entries)

    # -- data -----------------------------------------------------------------------------

    def build(self, accounts) -> dict:
        world = {"versions": {}, "statements": {}, "sections": {}}
        for i, (modified_days, statements) in enumerate(accounts):
            ident = f"acc-{i}"
            account = AccountFactory(cds_account_id=ident)
            world["versions"][ident] = []
            for v, d in enumerate(modified_days):
                values = {
                    "account_number": f"n{i}v{v}",
                    "account_name": f"name {i}.{v}",
                    "account_status": ["active", "closed"][v % 2],
                    "customer_number": None if v == 1 else f"c{i}v{v}",
                }
                AccountVersionFactory(
                    account=account, cds_created=day(d), cds_modified=day(d), **values
                )
                world["versions"][ident].append((d, values))
            for s, (d, with_section) in enumerate(statements):
                statement = BillStatementFactory(
                    cds_billstatement_id=f"bst-{i}-{s}",
                    account=account,
                    statement_date=day(d).date(),
                    amount_due=Decimal("1.10"),
                )
                world["statements"][statement.cds_billstatement_id] = (ident, day(d).date())
                if with_section:
                    BillSectionFactory(cds_billsection_id=f"bsec-{i}-{s}", statement=statement)
                    world["sections"][f"bsec-{i}-{s}"] = (ident, day(d).date())
        return world

    # -- the oracle -----------------------------------------------------------------------

    @staticmethod
    def version_at(versions, cutoff_day):
        found = [values for d, values in versions if cutoff_day is None or d <= cutoff_day]
        return found[-1] if found else None

    @staticmethod
    def admits(bounds, statement_date: date) -> bool:
        lo, hi = bounds
        return (lo is None or statement_date >= day(lo).date()) and (
            hi is None or statement_date <= day(hi).date()
        )

    def number_cutoff(self, account_entries):
        cutoffs = [e["cutoff"] for e in account_entries if "account_number" in e["fields"]]
        if not cutoffs:
            return False, None
        return True, None if None in cutoffs else max(cutoffs)

    def check_accounts(self, api, token, world, selected, entries) -> None:
        response = api.get("accounts", token)
        if not entries:
            assert response.status_code == 403
            return
        rows = {r["cds_account_id"]: r for r in response.data_["accounts"]}
        cutoffs = [e["cutoff"] for e in entries]
        row_cutoff = None if None in cutoffs else max(cutoffs)
        expected = {a for a in selected if self.version_at(world["versions"][a], row_cutoff)}
        assert set(rows) == expected
        for ident, row in rows.items():
            allowed = set(ACCOUNT_ALWAYS)
            for field in FIELDS:
                granting = [e["cutoff"] for e in entries if field in e["fields"]]
                if not granting:
                    continue
                cutoff = None if None in granting else max(granting)
                version = self.version_at(world["versions"][ident], cutoff)
                if version is not None:
                    allowed.add(field)
                    assert row[field] == version[field], (ident, field)
            assert set(row) == allowed
            if row_cutoff is not None:
                assert row["cds_modified"] <= day(row_cutoff).strftime("%Y-%m-%dT%H:%M:%SZ")

    def check_statements(self, api, token, world, selected, account_entries, entries) -> None:
        response = api.get("bill-statements", token)
        if not entries:
            assert response.status_code == 403
            return
        has_number, number_cutoff = self.number_cutoff(account_entries)
        rows = response.data_["bill_statements"]
        expected = {
            sid
            for sid, (acc, d) in world["statements"].items()
            if acc in selected and any(self.admits(e["bounds"], d) for e in entries)
        }
        assert {r["cds_billstatement_id"] for r in rows} == expected
        for row in rows:
            acc, d = world["statements"][row["cds_billstatement_id"]]
            allowed = set().union(
                *(STATEMENT_FIELDS[e["flavor"]] for e in entries if self.admits(e["bounds"], d))
            )
            number = self.version_at(world["versions"][acc], number_cutoff) if has_number else None
            if number is not None:
                allowed.add("account_number")
                assert row["account_number"] == number["account_number"]
            assert set(row) == allowed
        assert exactjson.dumps(rows).count("1.10") == sum("amount_due" in r for r in rows)

    def check_sections(self, api, token, world, selected, entries) -> None:
        response = api.get("bill-sections", token)
        shown = [e for e in entries if e["flavor"] != "amount_due_only"]
        if not shown:
            assert response.status_code == 403
            return
        rows = response.data_["bill_sections"]
        expected = {
            sid
            for sid, (acc, d) in world["sections"].items()
            if acc in selected and any(self.admits(e["bounds"], d) for e in shown)
        }
        assert {r["cds_billsection_id"] for r in rows} == expected
        for row in rows:
            _, d = world["sections"][row["cds_billsection_id"]]
            allowed = set().union(
                *(SECTION_FIELDS[e["flavor"]] for e in shown if self.admits(e["bounds"], d))
            )
            assert set(row) - {"account_number"} <= allowed


# -- the upstream vocabulary (CDS-WG3-01 §6-7): the oracle's own copy of the object formats
# and include fields, not the policy's tables.

UP_STATEMENT_REQUIRED = META | {
    "cds_billstatement_id",
    "cds_account_id",
    "statement_date",
    "currency",
    "amount_due",
    "amount_due_date",
    "shutoff_prevention_minimum_due",
    "shutoff_prevention_date",
}
UP_STATEMENT_CHARGES = {
    "previous_balance_amount",
    "previous_balance_paid",
    "previous_balance_unpaid",
    "new_charges_amount",
    "new_charges",
    "new_balance_amount",
}
UP_SECTION_REQUIRED = (SECTION_FIELDS["full"] - {"line_items"}) | {"account_number"}
UP_ACCOUNT_FIELDS = {
    "include_account_numbers": {"customer_number", "account_number", "account_entity"},
    "include_account_details": {
        "account_name",
        "account_address",
        "account_types",
        "account_status",
        "account_contacts",
    },
}
SECTION_DAYS = (date(2024, 12, 1), date(2024, 12, 31))  # every factory section's period

up_entry_st = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("cds_accounts_1"),
            "include_account_numbers": st.booleans(),
            "include_account_details": st.booleans(),
            "sync": st.one_of(st.none(), st.integers(0, 450)),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("cds_bill_statements_1"),
            "include_bill_statement_charges": st.booleans(),
            "bounds": bounds_st,
            "sync": st.one_of(st.none(), st.integers(0, 450)),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("cds_service_bills_1"),
            "include_bill_statements": st.booleans(),
            "include_bill_section_line_items": st.booleans(),
            "section_bounds": bounds_st,
            "sync": st.one_of(st.none(), st.integers(0, 450)),
        }
    ),
)
up_grant_st = st.tuples(
    st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
    st.lists(up_entry_st, min_size=1, max_size=3, unique_by=lambda e: e["type"]),
)


def stamp(n: int) -> str:
    return day(n).strftime("%Y-%m-%dT%H:%M:%SZ")


def bound(n: int | None) -> str:
    return "infinite" if n is None else day(n).date().isoformat()


class UpstreamGrantPropertyTests(GrantPropertyTests):
    """The same random worlds under random upstream grants."""

    test_responses_never_leave_the_grant = None  # run once, in the parent class

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(accounts=accounts_st, grant=up_grant_st)
    def test_upstream_responses_never_leave_the_grant(self, accounts, grant) -> None:
        world = self.build(accounts)
        selected_idx, entries = grant
        selected = [f"acc-{i}" for i in selected_idx if i < len(accounts)] or ["acc-0"]
        details = []
        for e in entries:
            entry = {k: v for k, v in e.items() if k.startswith("include_")}
            entry["type"] = e["type"]
            entry["sync_until"] = "infinite" if e["sync"] is None else stamp(e["sync"])
            if "bounds" in e:
                entry["statement_date_start"] = bound(e["bounds"][0])
                entry["statement_date_end"] = bound(e["bounds"][1])
            if "section_bounds" in e:
                entry["start_date"] = bound(e["section_bounds"][0])
                entry["end_date"] = bound(e["section_bounds"][1])
            details.append(entry)
        token, _ = lifecycle.issue_token(
            lifecycle.create_grant(ApplicationFactory(), selected, details)
        )
        api = Api()
        self.check_up_accounts(api, token, world, selected, entries)
        self.check_up_statements(api, token, world, selected, entries)
        self.check_up_sections(api, token, world, selected, entries)

    @staticmethod
    def cutoff_day(entry) -> float:
        return float("inf") if entry["sync"] is None else entry["sync"]

    def check_up_accounts(self, api, token, world, selected, entries) -> None:
        # Every scope drawn here implies include_accounts; bills imply account numbers.
        response = api.get("accounts", token)
        rows = {r["cds_account_id"]: r for r in response.data_["accounts"]}
        row_cutoff = max(self.cutoff_day(e) for e in entries)
        at = None if row_cutoff == float("inf") else row_cutoff
        assert set(rows) == {a for a in selected if self.version_at(world["versions"][a], at)}
        for ident, row in rows.items():
            allowed = set(ACCOUNT_ALWAYS)
            for e in entries:
                gates = {"include_account_numbers"} if e["type"] != "cds_accounts_1" else set()
                gates |= {k for k, v in e.items() if k.startswith("include_") and v}
                cut = None if e["sync"] is None else e["sync"]
                version = self.version_at(world["versions"][ident], cut)
                for gate in gates & set(UP_ACCOUNT_FIELDS):
                    if version is not None:
                        allowed |= UP_ACCOUNT_FIELDS[gate]
            assert set(row) == allowed

    def statement_entries(self, entries):
        return [
            e
            for e in entries
            if e["type"] == "cds_bill_statements_1"
            or (e["type"] == "cds_service_bills_1" and e["include_bill_statements"])
        ]

    def admits_statement(self, e, d: date) -> bool:
        if e["sync"] is not None and (d > day(e["sync"]).date() or day(e["sync"]) < T0):
            return False
        return self.admits(e.get("bounds", (None, None)), d)

    def check_up_statements(self, api, token, world, selected, entries) -> None:
        shown = self.statement_entries(entries)
        response = api.get("bill-statements", token)
        if not shown:
            assert response.status_code == 403
            return
        rows = response.data_["bill_statements"]
        expected = {
            sid
            for sid, (acc, d) in world["statements"].items()
            if acc in selected and any(self.admits_statement(e, d) for e in shown)
        }
        assert {r["cds_billstatement_id"] for r in rows} == expected
        for row in rows:
            acc, d = world["statements"][row["cds_billstatement_id"]]
            admitting = [e for e in shown if self.admits_statement(e, d)]
            allowed = UP_STATEMENT_REQUIRED | {"account_number"}
            if any(e.get("include_bill_statement_charges") for e in admitting):
                allowed |= UP_STATEMENT_CHARGES
            assert set(row) == allowed
            versions = world["versions"][acc]
            issued = [v for vd, v in versions if day(vd).date() <= d]
            number = (issued[-1] if issued else versions[0][1])["account_number"]
            if all(e["sync"] is None for e in admitting):
                assert row["account_number"] == number

    def check_up_sections(self, api, token, world, selected, entries) -> None:
        shown = [e for e in entries if e["type"] == "cds_service_bills_1"]
        response = api.get("bill-sections", token)
        if not shown:
            assert response.status_code == 403
            return

        def admits(e) -> bool:
            lo, hi = e["section_bounds"]
            in_window = (lo is None or SECTION_DAYS[0] >= day(lo).date()) and (
                hi is None or SECTION_DAYS[1] <= day(hi).date()
            )
            return in_window and (e["sync"] is None or day(e["sync"]) >= T0)

        rows = response.data_["bill_sections"]
        expected = (
            {sid for sid, (acc, _) in world["sections"].items() if acc in selected}
            if any(admits(e) for e in shown)
            else set()
        )
        assert {r["cds_billsection_id"] for r in rows} == expected
        statements = {
            r["cds_billstatement_id"]
            for r in (
                api.get("bill-statements", token).data_.get("bill_statements", [])
                if self.statement_entries(entries)
                else []
            )
        }
        for row in rows:
            allowed = set(UP_SECTION_REQUIRED)
            if any(e["include_bill_section_line_items"] for e in shown if admits(e)):
                allowed.add("line_items")
            assert set(row) == allowed
            assert row["cds_billstatement_id"] is None or row["cds_billstatement_id"] in statements
