"""The policy: a token's grant compiled, once per request, into an immutable value that
answers for each resource *which rows* (a database filter, applied in SQL) and *which
fields* (per row: the union over the grant's entries that admit the row).

Every Customer Data endpoint asks the policy; no view or serializer looks at a grant.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, reduce
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import ACCOUNT_FIELDS, AccountSearchText, AccountVersion
from accounts.queries import service_ids
from accounts.search import SEARCHABLE, fold, program_numbers
from bills.models import BillSection, BillStatement
from bills.serializers import BillSectionSerializer, BillStatementSerializer
from cdsapi import enums
from cdsapi.api.exceptions import InsufficientScope
from cdsapi.api.pagination import Page, paginate
from cdsapi.grants import details as ad
from cdsapi.grants.conditions import any_of
from cdsapi.grants.scopes import ACCOUNTS, BILLS, USAGE
from cdsapi.models import Grant
from cdsapi.times import format_datetime
from usage import serving
from usage.aggregation import AGGREGATION_TYPES, Window, merge_windows
from usage.models import UsageSegment, UsageSeries

Presenter = Callable[[Any, dict[str, Any]], dict[str, Any]]


# -- which fields each kind of grant entry shows --------------------------------------------

ACCOUNT_ALWAYS = frozenset(
    {"cds_account_id", "cds_created", "cds_modified", "cds_synced", "cds_account_parent"}
)
STATEMENT_IDS = frozenset(
    {"cds_billstatement_id", "cds_created", "cds_modified", "cds_synced", "cds_account_id"}
)
# "full" is every field the serializer renders; account_number is granted separately.
STATEMENT_FIELDS = {
    "full": frozenset(BillStatementSerializer.Meta.fields) - {"account_number"},
    "usage_only": STATEMENT_IDS | {"statement_date"},
    "amount_due_only": STATEMENT_IDS
    | {
        "statement_date",
        "currency",
        "amount_due",
        "amount_due_date",
        "shutoff_prevention_minimum_due",
        "shutoff_prevention_date",
    },
}
SECTION_FIELDS = {
    "full": frozenset(BillSectionSerializer.Meta.fields) - {"account_number"},
    "usage_only": frozenset(
        {
            "cds_billsection_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "cds_billstatement_id",
            "cds_account_id",
            "section_types",
            "start_date",
            "end_date",
            "related_servicecontracts",
            "related_servicepoints",
            "related_meterdevices",
            "related_billsections",
            "usage_details",
        }
    ),
}
# usage_only keeps only usage details that are measurements: a number in a non-money unit.
_USAGE_UNITS = frozenset(enums.UNIT_TYPES) - {"money"}


def _is_measurement(detail: dict[str, Any]) -> bool:
    value = detail.get("value")
    return (
        detail.get("units") in _USAGE_UNITS
        and isinstance(value, int | Decimal)
        and not isinstance(value, bool)
    )


@dataclass(frozen=True)
class AccountsEntry:
    cutoff: datetime  # min(now, sync_date_end)
    fields: frozenset[str]


@dataclass(frozen=True)
class DateWindow:
    """Inclusive date bounds (None: unbounded), in SQL and in Python alike."""

    start: date | None
    end: date | None

    def q(self, path: str) -> Q:
        """Rows whose date at ``path`` lies inside the window."""
        return self.within(path, path)

    def within(self, start_path: str, end_path: str) -> Q:
        """Rows whose own period ``[start, end]`` lies inside the window."""
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{start_path}__gte": self.start})
        if self.end is not None:
            q &= Q(**{f"{end_path}__lte": self.end})
        return q

    def admits(self, day: date) -> bool:
        return self.admits_period(day, day)

    def admits_period(self, start: date, end: date) -> bool:
        return (self.start is None or start >= self.start) and (self.end is None or end <= self.end)


@dataclass(frozen=True)
class BillsEntry(DateWindow):
    flavor: str


@dataclass(frozen=True)
class UsageEntry:
    start: datetime | None
    end: datetime | None
    aggregation_type: str


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return reduce(frozenset.union, sets, frozenset())


@dataclass(frozen=True)
class Policy:
    account_pks: frozenset[int]
    account_ids: frozenset[str]
    numbers: tuple[tuple[int, str | None], ...]  # account_number as granted, per account pk
    accounts: tuple[AccountsEntry, ...]
    bills: tuple[BillsEntry, ...]
    usage: tuple[UsageEntry, ...]

    @classmethod
    def for_grant(
        cls, grant: Grant, token_scopes: Iterable[str], now: datetime | None = None
    ) -> "Policy":
        """Compile ``grant`` as seen through a token with ``token_scopes``.

        An entry counts only if the token holds its type's scope.
        """
        now = now or timezone.now()
        scopes = set(token_scopes) & set(grant.scopes)
        accounts, bills, usage = [], [], []
        for entry in grant.authorization_details:
            if entry["type"] not in scopes:
                continue
            if entry["type"] == ACCOUNTS:
                end = ad.parse_bound(entry["sync_date_end"])
                accounts.append(
                    AccountsEntry(min(now, end) if end else now, frozenset(entry["fields"]))
                )
            elif entry["type"] == BILLS:
                bills.append(
                    BillsEntry(
                        ad.parse_bound(entry["statement_date_start"]),
                        ad.parse_bound(entry["statement_date_end"]),
                        entry["flavor"],
                    )
                )
            elif entry["type"] == USAGE:
                usage.append(
                    UsageEntry(
                        ad.parse_bound(entry["segment_start"]),
                        ad.parse_bound(entry["segment_end"]),
                        entry["aggregation_type"],
                    )
                )
        # One query for the selected accounts and, if granted, their account_number as of
        # its cutoff (shown on statements, sections and segments).
        number_cutoffs = [e.cutoff for e in accounts if "account_number" in e.fields]
        if number_cutoffs:
            selected = grant.accounts.order_by()
            versions = AccountVersion.objects.filter(
                account=OuterRef("pk"), cds_modified__lte=max(number_cutoffs)
            ).order_by("-cds_modified")
            selected = selected.annotate(
                number_version=Subquery(versions.values("pk")[:1]),
                number=Subquery(versions.values("account_number")[:1]),
            )
            rows = list(selected.values_list("pk", "cds_account_id", "number_version", "number"))
        else:
            rows = [(*row, None, None) for row in grant.selected_accounts()]
        return cls(
            account_pks=frozenset(pk for pk, *_ in rows),
            account_ids=frozenset(ident for _, ident, *_ in rows),
            numbers=tuple((pk, number) for pk, _, version, number in rows if version is not None),
            accounts=tuple(accounts),
            bills=tuple(bills),
            usage=tuple(usage),
        )

    # -- account fields, also shown on other objects ------------------------------------------

    def field_cutoff(self, field: str) -> datetime | None:
        """The instant a granted account field is served as of (None: field not granted).

        Several entries may grant the field; the latest cutoff among them wins, since each
        of them admits the account as it was then.
        """
        cutoffs = [e.cutoff for e in self.accounts if field in e.fields]
        return max(cutoffs) if cutoffs else None

    def require_account_field(self, field: str) -> datetime:
        cutoff = self.field_cutoff(field)
        if cutoff is None:
            raise InsufficientScope(
                f"the grant does not show {field}, so it cannot be filtered or searched on"
            )
        return cutoff

    def accounts_where(self, field: str, lookup: str, value: Any) -> Q:
        """Rows whose account's ``field`` (as the grant shows it) matches; 403 if hidden."""
        cutoff = self.require_account_field(field)
        matching = (
            AccountVersion.objects.filter(account_id__in=self.listed_accounts)
            .as_of(cutoff)
            .filter(**{f"{field}__{lookup}": value})
            .values("account_id")
        )
        return Q(account_id__in=matching)

    @cached_property
    def account_numbers(self) -> dict[int, str | None]:
        """``account_number`` of each selected account, for the objects that show it; only
        accounts that existed at the field's cutoff, and none if the field is not granted."""
        return dict(self.numbers)

    # -- reference arrays -----------------------------------------------------------------

    @cached_property
    def visible_ids(self) -> dict[str, frozenset[str]]:
        """Ids of the selected accounts' services, the only ones reference arrays may show.

        One query: the contracts of the selected accounts, the service points serving those
        contracts and the meters at those points.
        """
        found = service_ids(self.account_pks)
        return {
            "related_servicecontracts": frozenset(found["contracts"]),
            "related_servicepoints": frozenset(found["points"]),
            "related_meterdevices": frozenset(found["meters"]),
            "related_accounts": self.account_ids,
            "related_aggregations": frozenset(),
        }

    def prune(self, name: str, ids: list[str]) -> list[str]:
        visible = self.visible_ids[name]
        return [i for i in ids if i in visible]

    def shown(self, name: str, ids: Iterable[str]) -> frozenset[str]:
        """Which of these ids a ``name`` reference array may show (bill sections: those the
        grant shows; the others: the selected accounts' objects)."""
        ids = frozenset(ids)
        if name == "related_billsections":
            return self.visible_sections(ids) or frozenset()
        if name == "cds_billstatement_id":
            return self.visible_statements(ids)
        return ids & self.visible_ids[name]

    def visible_statements(self, statement_ids: Iterable[str]) -> frozenset[str]:
        """Which of these statements a section may name: in the seed vocabulary a section
        is shown only with its statement, so every one."""
        return frozenset(statement_ids)

    @property
    def listed_accounts(self) -> frozenset[int]:
        """The accounts the Accounts API lists: the selected ones."""
        return self.account_pks

    def ids_with(self, kind: str, field: str, values: Iterable[str]) -> frozenset[str]:
        """A filter on a field of contracts, service points or meters: the seed vocabulary
        never shows those objects' fields, so such a filter is refused, not answered."""
        raise InsufficientScope(
            f"the grant does not show {field} of {kind}, so it cannot be filtered on"
        )

    def format_positions(self, formats: list[dict[str, Any]]) -> list[int] | None:
        """Which of a segment's value formats are served (None: all of them)."""
        return None

    def synced(self, synced: datetime) -> datetime:
        """A usage segment's ``cds_synced`` as served (seed usage has no data cutoff)."""
        return synced

    def program_filter(self, field: str) -> frozenset[str] | None:
        """The program numbers an account's or contract's ``field`` shows (None: all)."""
        return None

    def programs(self, field: str, programs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The programs of an account or contract the grant shows."""
        wanted = self.program_filter(field)
        if wanted is None:
            return programs
        return [p for p in programs if isinstance(p, dict) and p.get("program_number") in wanted]

    def contracts_rule(self) -> "Rule":
        raise InsufficientScope("the seed vocabulary does not show service contracts")

    def points_rule(self) -> "Rule":
        raise InsufficientScope("the seed vocabulary does not show service points")

    def meters_rule(self) -> "Rule":
        raise InsufficientScope("the seed vocabulary does not show meter devices")

    # -- the resources ----------------------------------------------------------------------

    def accounts_rule(self) -> "AccountsRule":
        if not self.accounts:
            raise InsufficientScope(f"the token's grant has no {ACCOUNTS} entry")
        return AccountsRule(self)

    def statements_rule(self) -> "StatementsRule":
        if not self.bills:
            raise InsufficientScope(f"the token's grant has no {BILLS} entry")
        return StatementsRule(self)

    def usage_rule(self, requested: str | None = None) -> "UsageRule":
        """Usage at the requested granularity (default: the finest the grant allows), over
        the windows of the entries that allow it. Finer than granted is insufficient_scope."""
        if not self.usage:
            raise InsufficientScope(f"the token's grant has no {USAGE} entry")
        levels = AGGREGATION_TYPES
        finest = min(levels.index(e.aggregation_type) for e in self.usage)
        level = finest if requested is None else levels.index(requested)
        if level < finest:
            raise InsufficientScope(
                f"aggregation_type {requested} is finer than the grant allows "
                f"({levels[finest]} or coarser)"
            )
        windows = merge_windows(
            Window(e.start, e.end) for e in self.usage if levels.index(e.aggregation_type) <= level
        )
        return UsageRule(self, levels[level], windows)

    def sections_rule(self) -> "SectionsRule":
        if not self.bills:
            raise InsufficientScope(f"the token's grant has no {BILLS} entry")
        entries = tuple(e for e in self.bills if e.flavor in SECTION_FIELDS)
        if not entries:
            raise InsufficientScope(
                f"bill sections need a {BILLS} entry whose flavor is not amount_due_only"
            )
        return SectionsRule(self, entries)

    def visible_sections(self, section_ids: Iterable[str]) -> frozenset[str] | None:
        """Which of these bill sections the grant shows (one query), for reference arrays;
        None if it shows no bill sections at all."""
        try:
            rule = self.sections_rule()
        except InsufficientScope:
            return None
        return rule.visible(section_ids)


def compile_policy(grant: Grant, token_scopes: Iterable[str]) -> Policy:
    """The policy of a token: its grant's (or, for a grant-admin grant, the administered
    grant's) entries that the token's scopes reach, compiled by their vocabulary."""
    from cdsapi.grants.upstream import CLIENT_ADMIN
    from cdsapi.grants.upstream_policy import UpstreamPolicy

    data = grant.data_grant
    if data.scope == CLIENT_ADMIN.id:
        raise InsufficientScope(f"a {CLIENT_ADMIN.id} token reads no customer data")
    scopes = data.scopes if data is not grant else token_scopes
    if ad.family_of(data.authorization_details) == "seed":
        return Policy.for_grant(data, scopes)
    return UpstreamPolicy.for_grant(data, scopes)


def encryption_key(grant: Grant) -> dict[str, Any] | None:
    """The public key every response body for this grant's tokens is encrypted to (the
    ``jwk`` field, WG3 §7.4.6: the same in every entry), or None."""
    entries = grant.data_grant.authorization_details
    return entries[0].get("jwk") if entries else None


class Rule(ABC):
    """What every resource rule offers the base view: ``rows``, a queryset already cut to
    the grant; ``listing``, one page of what the grant serves, filtered and rendered."""

    policy: Policy

    def account_field(self, field: str, values: list[str]) -> Q:
        """Rows whose account's ``field``, as the grant shows it, is one of ``values``."""
        return self.policy.accounts_where(field, "in", values)

    @abstractmethod
    def rows(self) -> QuerySet: ...

    @abstractmethod
    def listing(
        self, filters: list[tuple[Any, Any]], params: dict[str, str], request: Any, serializer: Any
    ) -> Page: ...


class SerializedRule(Rule):
    """A rule that serves each row as one item: filters narrow the rows in SQL, a serializer
    renders them, then ``presenter`` cuts them: which fields each row shows, and what the
    grant lets them hold."""

    def listing(
        self, filters: list[tuple[Any, Any]], params: dict[str, str], request: Any, serializer: Any
    ) -> Page:
        rows = self.rows()
        for flt, value in filters:
            rows = flt.apply(rows, value, self)
        page = paginate(rows, params, request)
        present = self.presenter(page.rows)
        items = [present(row, serializer.to_representation(row)) for row in page.rows]
        return Page(items, page.next, page.previous)

    @abstractmethod
    def presenter(self, rows: list[Any]) -> Presenter: ...


def _ordered(data: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in fields}


@dataclass(frozen=True)
class AccountsRule(SerializedRule):
    """Accounts: the selected ones, each as it was at the grant's ``sync_date_end``."""

    policy: Policy

    @property
    def row_cutoff(self) -> datetime:
        # An account exists as of some entry's cutoff iff it exists as of the latest one.
        return max(e.cutoff for e in self.policy.accounts)

    def rows(self) -> QuerySet[AccountVersion]:
        return (
            AccountVersion.objects.filter(account_id__in=self.policy.listed_accounts)
            .as_of(self.row_cutoff)
            .select_related("account", "parent")
            .order_by("-cds_modified", "account__cds_account_id")
        )

    def search(self, term: str) -> Q:
        """``q``: the folded term inside the value of a field the grant shows, as of that
        field's cutoff (see ``accounts.search``); never inside a hidden field or value."""
        folded = fold(term)
        policy = self.policy
        matching = AccountSearchText.objects.filter(
            version__account_id__in=policy.listed_accounts,
            field="cds_account_id",
            text__contains=folded,
        )
        found = Q(account_id__in=matching.values("version__account_id"))
        for field in SEARCHABLE[1:]:
            cutoff = policy.field_cutoff(field)
            if cutoff is None:
                continue
            versions = AccountVersion.objects.filter(account_id__in=policy.listed_accounts).as_of(
                cutoff
            )
            shown_programs = policy.program_filter(field)
            if shown_programs is not None:
                # Only the programs the grant shows: matched on their numbers, in Python.
                found |= Q(
                    account_id__in=[
                        pk
                        for pk, programs in versions.values_list("account_id", field)
                        if any(
                            folded in fold(number)
                            for number in program_numbers(programs)
                            if number in shown_programs
                        )
                    ]
                )
                continue
            matching = AccountSearchText.objects.filter(
                version__in=versions, field=field, text__contains=folded
            )
            found |= Q(account_id__in=matching.values("version__account_id"))
        return found

    def presenter(self, rows: list[AccountVersion]) -> Presenter:
        policy = self.policy
        pks = [row.account_id for row in rows]
        granted = {
            field: cutoff
            for field in ACCOUNT_FIELDS
            if (cutoff := policy.field_cutoff(field)) is not None
        }
        by_cutoff: dict[datetime, dict[int, AccountVersion]] = {}
        for cutoff in set(granted.values()) - {self.row_cutoff}:
            versions = AccountVersion.objects.filter(account_id__in=pks).as_of(cutoff)
            by_cutoff[cutoff] = {v.account_id: v for v in versions}
        # A parent is named only if it is selected and existed at the cutoff.
        parents = {row.parent_id for row in rows if row.parent_id in policy.listed_accounts}
        shown_parents = (
            set(
                AccountVersion.objects.filter(
                    account_id__in=parents, cds_modified__lte=self.row_cutoff
                ).values_list("account_id", flat=True)
            )
            if parents
            else set()
        )

        def present(row: AccountVersion, data: dict[str, Any]) -> dict[str, Any]:
            fields = set(ACCOUNT_ALWAYS)
            for field, cutoff in granted.items():
                if cutoff == self.row_cutoff:
                    fields.add(field)
                elif row.account_id in by_cutoff[cutoff]:
                    fields.add(field)
                    data[field] = getattr(by_cutoff[cutoff][row.account_id], field)
            shown = row.parent_id in shown_parents
            data["cds_account_parent"] = row.parent.cds_account_id if shown else None
            data["cds_synced"] = format_datetime(min(row.cds_synced, self.row_cutoff))
            if data.get("account_programs") is not None:
                data["account_programs"] = policy.programs(
                    "account_programs", data["account_programs"]
                )
            return _ordered(data, frozenset(fields))

        return present


@dataclass(frozen=True)
class StatementsRule(SerializedRule):
    """Bill statements of the selected accounts inside any entry's statement date window."""

    policy: Policy

    def rows(self) -> QuerySet[BillStatement]:
        windows = any_of(e.q("statement_date") for e in self.policy.bills)
        return (
            BillStatement.objects.filter(account_id__in=self.policy.account_pks)
            .filter(windows)
            .select_related("account")
            .order_by("-statement_date", "-cds_modified", "cds_billstatement_id")
        )

    def presenter(self, rows: list[BillStatement]) -> Presenter:
        policy = self.policy
        numbers = policy.account_numbers
        visible_sections = policy.visible_sections(
            section_id
            for row in rows
            for charge in row.new_charges or []
            for section_id in charge.get("related_billsections") or []
        )

        def present(row: BillStatement, data: dict[str, Any]) -> dict[str, Any]:
            fields = _union(
                STATEMENT_FIELDS[e.flavor] for e in policy.bills if e.admits(row.statement_date)
            )
            if row.account_id in numbers:
                fields |= {"account_number"}
                data["account_number"] = numbers[row.account_id]
            if "new_charges" in fields and data["new_charges"] is not None:
                data["new_charges"] = [
                    _prune_charge(charge, visible_sections) for charge in data["new_charges"]
                ]
            return _ordered(data, fields)

        return present


def prune_section_links(
    policy: Policy, data: dict[str, Any], visible_sections: frozenset[str]
) -> None:
    """A section's reference arrays cut to what the grant shows (in place)."""
    for name in ("related_servicecontracts", "related_servicepoints", "related_meterdevices"):
        data[name] = policy.prune(name, data[name] or [])
    data["related_billsections"] = [
        i for i in data["related_billsections"] or [] if i in visible_sections
    ]


def _prune_charge(charge: dict[str, Any], visible: frozenset[str] | None) -> dict:
    """A new charge's section references: the visible ones, or none at all (the key left out,
    as the spec asks) when the grant shows no bill sections."""
    charge = dict(charge)
    if "related_billsections" in charge:
        if visible is None:
            del charge["related_billsections"]
        else:
            charge["related_billsections"] = [
                i for i in charge["related_billsections"] or [] if i in visible
            ]
    return charge


# What a section's statement is never read for (see SectionRows.rows).
_STATEMENT_UNREAD = tuple(
    f"statement__{field.name}"
    for field in BillStatement._meta.concrete_fields
    if field.name not in {"id", "cds_billstatement_id", "statement_date", "account"}
)


class SectionRows(SerializedRule):
    """What the section rules of both vocabularies share: their order, and which section
    ids they show (for reference arrays), both over ``_visible``."""

    @abstractmethod
    def _visible(self) -> QuerySet[BillSection]: ...

    def rows(self) -> QuerySet[BillSection]:
        return (
            self._visible()
            .select_related("account", "statement")
            # A section shows its statement's id and is windowed by its date, nothing more.
            .defer(*_STATEMENT_UNREAD, "account__cds_synced")
            .order_by(
                "account__cds_account_id", "start_date", "-cds_modified", "cds_billsection_id"
            )
        )

    def visible(self, section_ids: Iterable[str]) -> frozenset[str]:
        ids = list(section_ids)
        if not ids:
            return frozenset()
        found = self._visible().filter(cds_billsection_id__in=ids)
        return frozenset(found.values_list("cds_billsection_id", flat=True))


@dataclass(frozen=True)
class SectionsRule(SectionRows):
    """Bill sections whose statement is visible under an entry that shows sections."""

    policy: Policy
    entries: tuple[BillsEntry, ...]

    def _visible(self) -> QuerySet[BillSection]:
        """A section is windowed by its statement's date, and only with a statement of its
        own account; one without a statement by its own period."""
        by_statement = Q(statement__account_id=F("account_id")) & any_of(
            e.q("statement__statement_date") for e in self.entries
        )
        by_period = Q(statement__isnull=True) & any_of(
            e.within("start_date", "end_date") for e in self.entries
        )
        return BillSection.objects.filter(account_id__in=self.policy.account_pks).filter(
            by_statement | by_period
        )

    def presenter(self, rows: list[BillSection]) -> Presenter:
        policy = self.policy
        numbers = policy.account_numbers
        visible_sections = self.visible({i for row in rows for i in row.related_billsections or []})

        def present(row: BillSection, data: dict[str, Any]) -> dict[str, Any]:
            if row.statement is not None:
                admitting = [e for e in self.entries if e.admits(row.statement.statement_date)]
            else:
                admitting = [
                    e for e in self.entries if e.admits_period(row.start_date, row.end_date)
                ]
            fields = _union(SECTION_FIELDS[e.flavor] for e in admitting)
            if row.account_id in numbers:
                fields |= {"account_number"}
                data["account_number"] = numbers[row.account_id]
            prune_section_links(policy, data, visible_sections)
            if "cost_details" not in fields:
                data["usage_details"] = [d for d in data["usage_details"] if _is_measurement(d)]
            return _ordered(data, fields)

        return present


@dataclass(frozen=True)
class UsageRule(Rule):
    """Usage segments of the selected accounts, only ever the value sets inside the grant's
    windows, at ``aggregation`` granularity (see ``usage.serving`` for trimming and sums)."""

    policy: Policy
    aggregation: str
    windows: tuple[Window, ...]
    meters: frozenset[str] | None = None  # None: every meter of the accounts

    @cached_property
    def series(self) -> dict[tuple[int, int | None], Any]:
        found = UsageSeries.objects.filter(account_id__in=self.policy.account_pks)
        if self.meters is not None:
            found = found.filter(meter__cds_meterdevice_id__in=self.meters)
        return {(s.account_id, s.meter_id): s for s in found.select_related("account", "meter")}

    @cached_property
    def zones(self) -> dict[tuple[int, str | None], str]:
        """The timezone of each account's series, by the meter's id (None: no meter)."""
        return {
            (account_pk, s.meter.cds_meterdevice_id if s.meter else None): s.timezone
            for (account_pk, _), s in self.series.items()
        }

    @property
    def longest(self) -> timedelta:
        """The longest stored segment of the selected accounts (read only when a window has
        a start, so an unbounded window costs no query for it)."""
        seconds = max((s.max_segment_seconds for s in self.series.values()), default=0)
        return timedelta(seconds=seconds)

    def rows(self) -> QuerySet[UsageSegment]:
        """Segments overlapping a window. ``segment_start`` is also bounded below by the
        longest segment's length, so the index reads only rows near the window."""
        conditions = []
        for window in self.windows:
            q = Q()
            if window.start is not None:
                q &= Q(segment_end__gt=window.start, segment_start__gte=window.start - self.longest)
            if window.end is not None:
                q &= Q(segment_start__lt=window.end)
            conditions.append(q)
        rows = UsageSegment.objects.filter(account_id__in=self.policy.account_pks)
        if self.meters is not None:
            rows = rows.filter(meter__cds_meterdevice_id__in=self.meters)
        return rows.filter(any_of(conditions))

    def listing(
        self, filters: list[tuple[Any, Any]], params: dict[str, str], request: Any, serializer: Any
    ) -> Page:
        """Served items, not stored rows, are filtered and paged (see ``usage.serving``)."""
        if self.aggregation == "intervals":
            return serving.interval_page(self, filters, params, request)
        return serving.aggregate_page(self, filters, params, request)
