"""The policy of an upstream-vocabulary grant (CDS-WG3-01 §6-7): which objects of each kind
the grant's entries make visible (``include_*`` object fields) within its base set, and which
of their OPTIONAL fields (``include_*`` field gates); REQUIRED fields are always present.

The base set is the grant's recorded selection for a consent grant (its accounts, with every
contract, service point and meter under them), and for a direct-access grant the client's
base set narrowed by the entries' preselections (WG3 §7.1), read on every request. Objects
are served as they were valid up to each entry's ``sync_until``; an object modified later
(this server keeps no history of it) is not served.

It answers the same questions as the seed ``Policy`` it extends, so the views, filters and
usage serving ask both alike.
"""

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, ClassVar

from django.db.models import Q, QuerySet, Value
from django.utils import timezone

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from accounts.queries import linked_ids, service_ids
from accounts.search import fold, program_numbers
from bills.models import BillSection, BillStatement
from cdsapi.api.exceptions import InsufficientScope
from cdsapi.grants import details as ad
from cdsapi.grants.conditions import any_of
from cdsapi.grants.policy import (
    AccountsEntry,
    AccountsRule,
    DateWindow,
    Policy,
    Presenter,
    SectionRows,
    SerializedRule,
    UsageRule,
    _ordered,
    _prune_charge,
    _union,
    prune_section_links,
)
from cdsapi.grants.scopes import scope_of_type
from cdsapi.grants.upstream import (
    ACCOUNTS,
    ALWAYS,
    CONTRACTS,
    FIELD_INCLUDES,
    METERS,
    OBJECT_INCLUDES,
    POINTS,
    PRESELECTIONS,
    PROGRAM_LISTS,
    SECTIONS,
    SEGMENTS,
    STATEMENTS,
    VALUE_TYPES,
)
from cdsapi.models import DirectAccess, Grant
from cdsapi.times import format_datetime
from usage.aggregation import Window, merge_windows

# Which reference arrays name which kind of object.
ARRAY_KINDS = {
    "related_accounts": ACCOUNTS,
    "related_servicecontracts": CONTRACTS,
    "current_servicecontracts": CONTRACTS,
    "previous_servicecontracts": CONTRACTS,
    "related_servicepoints": POINTS,
    "current_servicepoints": POINTS,
    "previous_servicepoints": POINTS,
    "related_meterdevices": METERS,
    "related_aggregations": "aggregations",
}
MAX_PARENT_DEPTH = 8


@dataclass(frozen=True)
class Entry:
    """One upstream entry, compiled: the kinds it shows, what of them, and its bounds."""

    cutoff: datetime  # min(now, sync_until)
    frozen: bool  # sync_until is an instant, not "infinite"
    includes: frozenset[str]
    statements: DateWindow  # unbounded when the scope has no such window
    sections: DateWindow
    segments: Window | None
    value_types: frozenset[str] | None  # None: segments carry no values (null)
    # A program scope's kept program list (WG3 §6.1.2-3): the only programs it shows.
    program_lists: tuple[tuple[str, frozenset[str]], ...] = ()
    linking: frozenset[str] = frozenset()  # kinds shown because other entries link them

    @property
    def kinds(self) -> frozenset[str]:
        kinds = {kind for include, kind in OBJECT_INCLUDES.items() if include in self.includes}
        return frozenset(kinds) | self.linking

    def fields(self, kind: str) -> frozenset[str]:
        found = set(ALWAYS.get(kind, ()))
        for include in self.includes:
            found |= FIELD_INCLUDES.get(include, {}).get(kind, frozenset())
        return frozenset(found)

    def program_list(self, field: str) -> frozenset[str] | None:
        return dict(self.program_lists).get(field)

    @classmethod
    def compile(cls, entry: dict[str, Any], now: datetime, consent: bool) -> "Entry":
        end = ad.parse_bound(entry["sync_until"])
        cutoff = min(now, end) if end else now

        def window(start: str, stop: str) -> tuple[Any, Any] | None:
            if start not in entry:
                return None
            return ad.parse_bound(entry[start]), ad.parse_bound(entry[stop])

        def dates(start: str, stop: str) -> DateWindow:
            return DateWindow(*(window(start, stop) or (None, None)))

        segments = window("segment_start", "segment_end")
        if segments is not None and end is not None:
            # Data valid after sync_until is never shown: the window ends there at the latest.
            stop = cutoff if segments[1] is None else min(segments[1], cutoff)
            segments = Window(segments[0], stop)
        elif segments is not None:
            segments = Window(*segments)
        types = entry.get(VALUE_TYPES)
        return cls(
            cutoff=cutoff,
            frozen=end is not None,
            includes=frozenset(
                k for k, v in entry.items() if k.startswith("include_") and v is True
            ),
            statements=dates("statement_date_start", "statement_date_end"),
            sections=dates("start_date", "end_date"),
            segments=segments,
            value_types=None if types is None else frozenset(types),
            program_lists=tuple(
                (name, frozenset(entry[name]))
                for name in PROGRAM_LISTS
                if consent and entry.get(name) is not None
            ),
        )


@dataclass(frozen=True)
class Universe:
    """The objects a grant's entries may show, before the kinds each entry shows: account
    pks, and the cds ids of contracts, service points and meters; ``narrowed`` names the
    kinds a direct grant's preselections narrowed below its accounts."""

    accounts: frozenset[int]
    contracts: frozenset[str]
    points: frozenset[str]
    meters: frozenset[str]
    narrowed: frozenset[str]
    # cds_account_id by pk, where already read (spares a query for the listed accounts' ids)
    names: tuple[tuple[int, str], ...] = ()


def matching(rows: Iterable[dict[str, Any]], name: str, wanted: frozenset[str]) -> set[Any]:
    """The pks of ``rows`` (dicts with ``pk`` and the field) that preselection ``name`` picks."""
    pre = PRESELECTIONS[name]
    found = set()
    for row in rows:
        value = row[pre.field]
        if pre.many == "list":
            hit = not wanted.isdisjoint(value or ())
        elif pre.many == "programs":
            hit = any(p.get("program_number") in wanted for p in value or () if isinstance(p, dict))
        elif pre.many == "premises":
            hit = any(p.get("premise_number") in wanted for p in value or () if isinstance(p, dict))
        else:
            hit = value in wanted
        if hit:
            found.add(row["pk"])
    return found


def preselected(entries: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    """Each preselection some entry sets, intersected over the entries that set it (several
    preselections intersect, WG3 §7.1; null means no limit)."""
    found: dict[str, frozenset[str]] = {}
    for entry in entries:
        for name in PRESELECTIONS:
            if entry.get(name) is not None:
                values = frozenset(entry[name])
                found[name] = found[name] & values if name in found else values
    return found


def served_as_of(entries: list[dict[str, Any]], now: datetime) -> datetime:
    """The instant accounts are served as of under these entries: the latest of their
    ``sync_until`` cutoffs (the Accounts API serves each account as of it)."""
    cutoffs = [min(now, end) if (end := ad.parse_bound(e["sync_until"])) else now for e in entries]
    return max(cutoffs, default=now)


def direct_universe(
    client: Any, entries: list[dict[str, Any]], as_of: datetime | None = None
) -> Universe:
    """The client's base set narrowed by the preselections, level by level downward; the
    account-level ones compare the accounts as served (as of ``as_of``)."""
    access = DirectAccess.objects.filter(client=client).first()
    if access is None:
        return Universe(frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
    accounts = Account.objects.all() if access.all_accounts else access.accounts.all()
    pks = frozenset(accounts.values_list("pk", flat=True))
    return preselected_under(pks, preselected(entries), as_of)


def preselected_under(
    pks: frozenset[int], pres: dict[str, frozenset[str]], as_of: datetime | None
) -> Universe:
    """What the preselections pick among these accounts and everything under them; the
    account-level ones compare the accounts as of ``as_of`` (None: now)."""
    kept = set(pks)
    for name in ("account_numbers", "account_programs"):
        if name in pres:
            field = PRESELECTIONS[name].field
            rows = AccountVersion.objects.filter(account_id__in=kept).as_of(as_of)
            rows = [
                {"pk": r["account_id"], field: r[field]} for r in rows.values("account_id", field)
            ]
            kept &= matching(rows, name, pres[name])
    return resources_under(frozenset(kept), pres)


# The consent page's selection types (WG3 §7.4.1) and the kind of object each picks.
SELECTION_KINDS = {
    "account_selection": ACCOUNTS,
    "service_contract_selection": CONTRACTS,
    "servicepoint_selection": POINTS,
    "meter_device_selection": METERS,
}


def consent_universe(grant: Grant) -> Universe:
    """The recorded selection: the grant's accounts and everything under them, cut to the
    contracts, service points or meters the customer picked. A grant a customer approved
    covers only accounts they still hold; with "include future", it also covers what they
    have added since (what was not yet theirs to pick when they approved)."""
    selection = grant.selection or {}
    names = grant.selected_accounts()
    pks = frozenset(pk for pk, _ in names)
    if grant.customer_id is None:
        return replace(resources_under(pks, {}), names=names)
    held = frozenset(Account.objects.filter(holders=grant.customer_id).values_list("pk", flat=True))
    kind = SELECTION_KINDS.get(selection.get("type", ""), ACCOUNTS)
    picked = frozenset(selection.get("ids", ()))
    if selection.get("include_future"):
        seen = frozenset(selection.get("seen", ()))
        if kind == ACCOUNTS:
            ids = Account.objects.filter(pk__in=held).values_list("cds_account_id", flat=True)
            new = frozenset(ids) - seen
            pks = pks | frozenset(
                Account.objects.filter(pk__in=held, cds_account_id__in=new).values_list(
                    "pk", flat=True
                )
            )
        else:
            everything = resources_under(held, {})
            new = {CONTRACTS: everything.contracts, POINTS: everything.points}.get(
                kind, everything.meters
            ) - seen
            picked = picked | new
            pks = held
    pks = pks & held
    if kind == ACCOUNTS:
        return replace(resources_under(pks, {}), names=names)
    universe = resources_under(pks, {}, picked=(kind, picked))
    owners = ServiceContract.objects.filter(cds_servicecontract_id__in=universe.contracts)
    owning = frozenset(owners.values_list("account_id", flat=True))
    return replace(universe, accounts=owning, names=names)


def resources_under(
    pks: frozenset[int],
    pres: dict[str, frozenset[str]],
    picked: tuple[str, frozenset[str]] | None = None,
) -> Universe:
    """What lies under these accounts: their contracts, the service points serving those
    contracts now or before, and the meters now at a point now serving one of them (a meter
    seen at such a point only before, or at a point that served them only before, may have
    been another customer's: this server keeps no dates for those links).

    ``picked`` (a kind and cds ids) keeps only those objects, what they link to below, and
    the contracts above them."""
    if not pres and picked is None:
        # Nothing narrows the accounts' graph: the one hand-written query every seed grant
        # uses for its reference arrays walks it the same way.
        found = service_ids(pks)
        return Universe(
            pks,
            frozenset(found["contracts"]),
            frozenset(found["points"]),
            frozenset(found["meters"]),
            frozenset(),
        )
    narrowed = set()
    chosen, ids = picked or ("", frozenset())

    def narrow(queryset: QuerySet, kind: str, names: tuple[str, ...]) -> QuerySet:
        keep = None
        for name in names:
            if name in pres:
                narrowed.add(kind)
                fields = ("pk", PRESELECTIONS[name].field)
                matched = matching(queryset.values(*fields), name, pres[name])
                keep = matched if keep is None else keep & matched
        return queryset if keep is None else queryset.filter(pk__in=keep)

    contracts = ServiceContract.objects.filter(account_id__in=pks)
    if chosen == CONTRACTS:
        contracts = contracts.filter(cds_servicecontract_id__in=ids)
    elif chosen == POINTS:
        contracts = contracts.filter(
            Q(current_servicepoints__cds_servicepoint_id__in=ids)
            | Q(previous_servicepoints__cds_servicepoint_id__in=ids)
        ).distinct()
    elif chosen == METERS:
        contracts = contracts.filter(
            current_servicepoints__current_meterdevices__cds_meterdevice_id__in=ids
        ).distinct()
    contracts = narrow(
        contracts, CONTRACTS, ("contract_numbers", "service_types", "service_programs")
    )
    points = ServicePoint.objects.filter(
        Q(current_servicecontracts__in=contracts) | Q(previous_servicecontracts__in=contracts)
    ).distinct()
    if chosen == POINTS:
        points = points.filter(cds_servicepoint_id__in=ids)
    elif chosen == METERS:
        points = points.filter(current_meterdevices__cds_meterdevice_id__in=ids)
    points = narrow(
        points, POINTS, ("servicepoint_numbers", "servicepoint_types", "premise_numbers")
    )
    serving = points.filter(current_servicecontracts__in=contracts)
    meters = MeterDevice.objects.filter(current_servicepoints__in=serving).distinct()
    if chosen == METERS:
        meters = meters.filter(cds_meterdevice_id__in=ids)
    meters = narrow(meters, METERS, ("meter_numbers", "meter_types"))
    if chosen:
        narrowed |= {CONTRACTS, POINTS, METERS}
    if CONTRACTS in narrowed:
        narrowed |= {POINTS, METERS}
    if POINTS in narrowed:
        narrowed.add(METERS)
    found = _ids_at_once(
        (CONTRACTS, contracts, "cds_servicecontract_id"),
        (POINTS, points, "cds_servicepoint_id"),
        (METERS, meters, "cds_meterdevice_id"),
    )
    return Universe(pks, found[CONTRACTS], found[POINTS], found[METERS], frozenset(narrowed))


def _ids_at_once(*parts: tuple[str, QuerySet, str]) -> dict[str, frozenset[str]]:
    """Each named queryset's ids, in one query (``UNION ALL``), since every request of an
    upstream grant needs them all."""
    shaped = [
        queryset.order_by().annotate(cds_kind=Value(kind)).values_list("cds_kind", field)
        for kind, queryset, field in parts
    ]
    found: dict[str, set[str]] = {kind: set() for kind, _, _ in parts}
    for kind, ident in shaped[0].union(*shaped[1:], all=True):
        found[kind].add(ident)
    return {kind: frozenset(ids) for kind, ids in found.items()}


def _ceiling(grant: Grant, universe: Universe, direct: bool) -> frozenset[int]:
    """The accounts a parent may be found among: a direct grant's base set; for a consent
    grant, the accounts of the consenting customer, or (a grant an operator made) of the
    customers who hold the selected accounts. Never another customer's account."""
    if direct:
        return universe.accounts
    holders = [grant.customer_id] if grant.customer_id else None
    if holders is None:
        holders = Account.holders.through.objects.filter(account_id__in=universe.accounts)
        holders = holders.values("user_id")
    held = Account.holders.through.objects.filter(user_id__in=holders)
    return frozenset(held.values_list("account_id", flat=True))


def _parents(pks: frozenset[int], ceiling: frozenset[int]) -> frozenset[int]:
    """Parents of these accounts, transitively (WG3 §7.2.1), never beyond ``ceiling``."""
    found: set[int] = set()
    level = set(pks)
    for _ in range(MAX_PARENT_DEPTH):
        parents = set(
            AccountVersion.objects.filter(account_id__in=level)
            .as_of(None)
            .exclude(parent=None)
            .values_list("parent_id", flat=True)
        )
        parents = (parents - pks - found) & ceiling
        if not parents:
            break
        found |= parents
        level = parents
    return frozenset(found)


def _day_end(day: date) -> datetime:
    """The last instant of a day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) - timedelta(microseconds=1)


@dataclass(frozen=True)
class UpstreamPolicy(Policy):
    entries: tuple[Entry, ...] = ()
    universe: Universe | None = None
    listed: frozenset[int] = frozenset()
    # Accounts whose statements may show: a statement covers all of its account's contracts
    # (its charges name them), so one shows only when the selection holds every one of them.
    whole: frozenset[int] = frozenset()

    @classmethod
    def for_grant(
        cls, grant: Grant, token_scopes: Iterable[str], now: datetime | None = None
    ) -> "UpstreamPolicy":
        now = now or timezone.now()
        scopes = set(token_scopes) & set(grant.scopes)
        raw = [
            e
            for e in grant.authorization_details
            if (scope := scope_of_type(e["type"])) is not None and scope.id in scopes
        ]
        direct = bool(raw) and scope_of_type(raw[0]["type"]).family == "direct"
        if direct:
            # A scope the operator has since taken away from the client counts no more.
            access = DirectAccess.objects.filter(client=grant.client_id).first()
            enabled = set(access.scopes) if access else set()
            raw = [e for e in raw if scope_of_type(e["type"]).id in enabled]
        entries = tuple(Entry.compile(e, now, consent=not direct) for e in raw)
        kinds = {k for e in entries for k in e.kinds}
        if {CONTRACTS, METERS} <= kinds:
            # Contracts and meters both visible bring the points linking them (WG3 §7.2.2,
            # §7.2.4), whichever entries show them.
            entries = tuple(
                replace(e, linking=frozenset({POINTS})) if e.kinds & {CONTRACTS, METERS} else e
                for e in entries
            )
        if direct:
            universe = direct_universe(grant.client, raw, served_as_of(raw, now))
        else:
            universe = consent_universe(grant)
        listed = universe.accounts
        if any(ACCOUNTS in e.kinds for e in entries):
            listed = listed | _parents(universe.accounts, _ceiling(grant, universe, direct))
        accounts = tuple(
            AccountsEntry(e.cutoff, e.fields(ACCOUNTS) - ALWAYS[ACCOUNTS])
            for e in entries
            if ACCOUNTS in e.kinds
        )
        known = dict(universe.names)
        if listed <= known.keys():
            ids = frozenset(known[pk] for pk in listed)
        else:
            found = Account.objects.filter(pk__in=listed).values_list("cds_account_id", flat=True)
            ids = frozenset(found)
        whole = universe.accounts
        if CONTRACTS in universe.narrowed and any(STATEMENTS in e.kinds for e in entries):
            partial = ServiceContract.objects.filter(account_id__in=whole).exclude(
                cds_servicecontract_id__in=universe.contracts
            )
            whole = whole - frozenset(partial.values_list("account_id", flat=True))
        return cls(
            account_pks=universe.accounts,
            account_ids=ids,
            numbers=(),
            accounts=accounts,
            bills=(),
            usage=(),
            entries=entries,
            universe=universe,
            listed=listed,
            whole=whole,
        )

    def showing(self, kind: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if kind in e.kinds)

    def _require(self, kind: str, what: str) -> tuple[Entry, ...]:
        found = self.showing(kind)
        if not found:
            raise InsufficientScope(f"no scope of the token's grant shows {what}")
        return found

    @property
    def listed_accounts(self) -> frozenset[int]:
        return self.listed

    def require_account_field(self, field: str) -> datetime:
        """As the seed policy, except that ``account_number`` may also be filtered on where an
        entry shows it on other objects (``include_account_numbers``)."""
        numbers = [e.cutoff for e in self.entries if "include_account_numbers" in e.includes]
        if field == "account_number" and numbers and self.field_cutoff(field) is None:
            return max(numbers)
        return super().require_account_field(field)

    # -- reference arrays: only ids of objects the token can see -----------------------------

    @cached_property
    def visible_ids(self) -> dict[str, frozenset[str]]:
        u = self.universe
        by_kind = {
            ACCOUNTS: self.account_ids,
            CONTRACTS: u.contracts,
            POINTS: u.points,
            METERS: u.meters,
        }
        return {
            name: by_kind[kind] if self.showing(kind) and kind in by_kind else frozenset()
            for name, kind in ARRAY_KINDS.items()
        }

    @cached_property
    def account_numbers(self) -> dict[int, str | None]:
        """Usage segments carry no account number in the upstream vocabulary."""
        return {}

    def ids_with(self, kind: str, field: str, values: Iterable[str]) -> frozenset[str]:
        """Ids of visible objects of ``kind`` whose ``field`` is one of ``values``; 403 if no
        entry shows that field (no oracle on hidden values)."""
        if not any(field in e.fields(kind) for e in self.showing(kind)):
            raise InsufficientScope(f"the grant does not show {field}, so it cannot be filtered on")
        model, ident = _OBJECTS[kind]
        visible = getattr(self.universe, kind)
        rows = model.objects.filter(**{f"{ident}__in": visible, f"{field}__in": list(values)})
        return frozenset(rows.values_list(ident, flat=True))

    def synced(self, synced: datetime) -> datetime:
        """A segment's ``cds_synced``, never after the usage entry's ``sync_until``."""
        [entry] = self.showing(SEGMENTS)
        return min(synced, entry.cutoff) if entry.frozen else synced

    def program_filter(self, field: str) -> frozenset[str] | None:
        """Only the listed programs when every entry showing ``field`` is a program scope
        with a program list; all of them (None) if any other entry shows the field."""
        include = {"account_programs": "include_account_programs"}.get(
            field, "include_service_programs"
        )
        lists = [e.program_list(field) for e in self.entries if include in e.includes]
        if not lists or any(found is None for found in lists):
            return None
        return frozenset().union(*lists)

    def format_positions(self, formats: list[dict[str, Any]]) -> list[int] | None:
        """Which of a segment's formats the grant serves (WG3 §7.2.8.1); [] for null."""
        [entry] = self.showing(SEGMENTS)
        if entry.value_types is None:
            return []
        keep = [n for n, f in enumerate(formats) if f.get("type") in entry.value_types]
        # A cost or supply-mix format describes others (``indexes``): it goes with them.
        while True:
            kept = set(keep)
            narrower = [n for n in keep if kept.issuperset(formats[n].get("indexes") or ())]
            if narrower == keep:
                return keep
            keep = narrower

    def numbers_when(self, wanted: Iterable[tuple[int, datetime]]) -> dict[tuple, str | None]:
        """The ``account_number`` of each (account, instant): the version in force then, or
        the account's first if it began later."""
        pairs = set(wanted)
        versions: dict[int, list[tuple[datetime, str | None]]] = {}
        rows = AccountVersion.objects.filter(account_id__in={pk for pk, _ in pairs})
        for pk, modified, number in rows.order_by("cds_modified").values_list(
            "account_id", "cds_modified", "account_number"
        ):
            versions.setdefault(pk, []).append((modified, number))
        found = {}
        for pk, instant in pairs:
            history = versions.get(pk, [])
            before = [n for m, n in history if m <= instant]
            found[(pk, instant)] = before[-1] if before else (history[0][1] if history else None)
        return found

    # -- the resources ----------------------------------------------------------------------

    def accounts_rule(self) -> AccountsRule:
        self._require(ACCOUNTS, "accounts")
        return AccountsRule(self)

    def statements_rule(self) -> "StatementsRule":
        return StatementsRule(self, self._require(STATEMENTS, "bill statements"))

    def sections_rule(self) -> "SectionsRule":
        return SectionsRule(self, self._require(SECTIONS, "bill sections"))

    def visible_sections(self, section_ids: Iterable[str]) -> frozenset[str] | None:
        if not self.showing(SECTIONS):
            return None
        return self.sections_rule().visible(section_ids)

    def visible_statements(self, statement_ids: Iterable[str]) -> frozenset[str]:
        if not self.showing(STATEMENTS):
            return frozenset()
        ids = list(statement_ids)
        rows = self.statements_rule().rows().filter(cds_billstatement_id__in=ids)
        return frozenset(rows.values_list("cds_billstatement_id", flat=True))

    def usage_rule(self, requested: str | None = None) -> UsageRule:
        [entry] = self._require(SEGMENTS, "usage segments")
        if requested not in (None, "intervals"):
            raise InsufficientScope(
                "aggregation_type is an extension of this server's seed vocabulary; "
                "an upstream grant serves usage as stored (intervals)"
            )
        meters = self.universe.meters if METERS in self.universe.narrowed else None
        return UsageRule(self, "intervals", merge_windows([entry.segments]), meters)

    def contracts_rule(self) -> "ObjectRule":
        return ObjectRule(self, CONTRACTS, self._require(CONTRACTS, "service contracts"))

    def points_rule(self) -> "ObjectRule":
        return ObjectRule(self, POINTS, self._require(POINTS, "service points"))

    def meters_rule(self) -> "ObjectRule":
        return ObjectRule(self, METERS, self._require(METERS, "meter devices"))


def _synced(data: dict[str, Any], row: Any, cutoff: datetime) -> None:
    data["cds_synced"] = format_datetime(min(row.cds_synced, cutoff))


def _after(data: dict[str, Any], key: str, new: str, value: Any) -> dict[str, Any]:
    """``data`` with ``new`` set just after ``key`` (keys keep the spec's order)."""
    found = {}
    for k, v in data.items():
        found[k] = v
        if k == key:
            found[new] = value
    return found


class NumberedRule(SerializedRule):
    """What the upstream statement and section rules share: which entries admit a row, and
    the account number it shows (the one in force on ``issued``, by the admitting entries'
    cutoff), for presenting and for ``account_numbers`` alike."""

    kind: ClassVar[str]
    policy: UpstreamPolicy
    entries: tuple[Entry, ...]

    @abstractmethod
    def admitting(self, row: Any) -> list[Entry]: ...

    @abstractmethod
    def issued(self, row: Any) -> date: ...

    def served(self, rows: list[Any]) -> dict[Any, tuple[list[Entry], str | None]]:
        """Per row key: the entries admitting the row, and its account number."""
        admitted = {row.pk: self.admitting(row) for row in rows}
        when = {
            row.pk: min(_day_end(self.issued(row)), max(e.cutoff for e in admitted[row.pk]))
            for row in rows
        }
        numbers = self.policy.numbers_when((row.account_id, when[row.pk]) for row in rows)
        return {row.pk: (admitted[row.pk], numbers[(row.account_id, when[row.pk])]) for row in rows}

    def account_field(self, field: str, values: list[str]) -> Q:
        """``account_numbers``: rows whose *served* number is one of ``values`` (403 where no
        entry shows it here). Matched in Python, applied in SQL by key."""
        if field != "account_number":
            return super().account_field(field, values)
        if not any("account_number" in e.fields(self.kind) for e in self.entries):
            raise InsufficientScope("the grant does not show account_number here")
        wanted = set(values)
        return Q(
            pk__in=[
                pk
                for pk, (entries, number) in self.served(list(self.rows())).items()
                if number in wanted
                and "account_number" in _union(e.fields(self.kind) for e in entries)
            ]
        )


@dataclass(frozen=True)
class StatementsRule(NumberedRule):
    """Statements of the base accounts inside an entry's statement window, issued and last
    modified by its ``sync_until``."""

    policy: UpstreamPolicy
    entries: tuple[Entry, ...]
    kind: ClassVar[str] = STATEMENTS

    def _admits(self, entry: Entry) -> Q:
        q = entry.statements.q("statement_date")
        q &= Q(cds_modified__lte=entry.cutoff)
        return q & Q(statement_date__lte=entry.cutoff.date()) if entry.frozen else q

    def rows(self) -> QuerySet[BillStatement]:
        return (
            BillStatement.objects.filter(account_id__in=self.policy.whole)
            .filter(any_of(self._admits(e) for e in self.entries))
            .select_related("account")
            .order_by("-statement_date", "-cds_modified", "cds_billstatement_id")
        )

    def admitting(self, row: BillStatement) -> list[Entry]:
        return [
            e
            for e in self.entries
            if row.cds_modified <= e.cutoff
            and (not e.frozen or row.statement_date <= e.cutoff.date())
            and e.statements.admits(row.statement_date)
        ]

    def issued(self, row: BillStatement) -> date:
        return row.statement_date

    def presenter(self, rows: list[BillStatement]) -> Presenter:
        policy = self.policy
        served = self.served(rows)
        visible_sections = policy.visible_sections(
            i
            for row in rows
            for charge in row.new_charges or []
            for i in charge.get("related_billsections") or []
        )

        def present(row: BillStatement, data: dict[str, Any]) -> dict[str, Any]:
            entries, data["account_number"] = served[row.pk]
            fields = _union(e.fields(STATEMENTS) for e in entries)
            cutoff = max(e.cutoff for e in entries)
            if data.get("new_charges") is not None:
                data["new_charges"] = [
                    _prune_charge(c, visible_sections) for c in data["new_charges"]
                ]
            _synced(data, row, cutoff)
            return _ordered(data, fields)

        return present


@dataclass(frozen=True)
class SectionsRule(SectionRows, NumberedRule):
    """Sections of the base accounts whose service period lies in an entry's window (WG3
    §7.3.4-5, whole sections only), modified by its ``sync_until``; a grant narrowed to some
    contracts shows only sections naming no other contract."""

    policy: UpstreamPolicy
    entries: tuple[Entry, ...]
    kind: ClassVar[str] = SECTIONS

    def _visible(self) -> QuerySet[BillSection]:
        admits = any_of(
            e.sections.within("start_date", "end_date")
            & Q(cds_modified__lte=e.cutoff)
            & (Q(end_date__lte=e.cutoff.date()) if e.frozen else Q())
            for e in self.entries
        )
        rows = BillSection.objects.filter(account_id__in=self.policy.account_pks).filter(admits)
        universe = self.policy.universe
        if CONTRACTS in universe.narrowed:
            # A section's amounts cover every contract it names: it shows only when the
            # selection holds each of them.
            keep = [
                pk
                for pk, ids in rows.values_list("pk", "related_servicecontracts")
                if ids and set(ids) <= universe.contracts
            ]
            rows = rows.filter(pk__in=keep)
        return rows

    def admitting(self, row: BillSection) -> list[Entry]:
        return [
            e
            for e in self.entries
            if row.cds_modified <= e.cutoff
            and (not e.frozen or row.end_date <= e.cutoff.date())
            and e.sections.admits_period(row.start_date, row.end_date)
        ]

    def issued(self, row: BillSection) -> date:
        """Its statement's date, or (without one) the end of its own period."""
        return row.statement.statement_date if row.statement is not None else row.end_date

    def presenter(self, rows: list[BillSection]) -> Presenter:
        policy = self.policy
        served = self.served(rows)
        statements = policy.visible_statements(
            row.statement.cds_billstatement_id for row in rows if row.statement is not None
        )
        sections = self.visible({i for row in rows for i in row.related_billsections or []})

        def present(row: BillSection, data: dict[str, Any]) -> dict[str, Any]:
            entries, data["account_number"] = served[row.pk]
            fields = _union(e.fields(SECTIONS) for e in entries)
            if data["cds_billstatement_id"] not in statements:
                data["cds_billstatement_id"] = None
            prune_section_links(policy, data, sections)
            _synced(data, row, max(e.cutoff for e in entries))
            return _ordered(data, fields)

        return present


# The link arrays each object serves, read with its rows (``accounts.queries.linked_ids``).
LINKS = {
    POINTS: ("current_servicecontracts", "previous_servicecontracts"),
    METERS: ("current_servicepoints", "previous_servicepoints"),
}
_OBJECTS = {
    CONTRACTS: (ServiceContract, "cds_servicecontract_id"),
    POINTS: (ServicePoint, "cds_servicepoint_id"),
    METERS: (MeterDevice, "cds_meterdevice_id"),
}
# What q matches on each kind (WG3 §10.2.7, §10.3.5, §10.4.5), field by field; a field is
# searched only where the grant shows it. Program and premise lists match by their numbers.
SEARCHED = {
    CONTRACTS: (
        "cds_servicecontract_id",
        "contract_number",
        "contract_address",
        "rateplan_code",
        "rateplan_name",
        "service_programs",
    ),
    POINTS: ("cds_servicepoint_id", "servicepoint_address", "servicepoint_number", "premises"),
    METERS: ("cds_meterdevice_id", "meter_number"),
}


def _search_values(field: str, value: Any, programs: frozenset[str] | None) -> list[str]:
    """What ``q`` matches in a field: its text, a premise's number, or the numbers of the
    programs the grant shows (``programs``; None: all)."""
    if value is None:
        return []
    if field == "premises":
        return [
            str(p["premise_number"])
            for p in value
            if isinstance(p, dict) and p.get("premise_number")
        ]
    if field == "service_programs":
        return [n for n in program_numbers(value) if programs is None or n in programs]
    return [str(value)]


@dataclass(frozen=True)
class ObjectRule(SerializedRule):
    """Service contracts, service points or meter devices of the base set, each modified by
    an entry's ``sync_until``, with the fields the entries that admit it show."""

    policy: UpstreamPolicy
    kind: str
    entries: tuple[Entry, ...]

    @property
    def model(self) -> Any:
        return _OBJECTS[self.kind][0]

    def rows(self) -> QuerySet:
        model, ident = _OBJECTS[self.kind]
        visible = getattr(self.policy.universe, self.kind)
        admits = any_of(Q(cds_modified__lte=e.cutoff) for e in self.entries)
        rows = model.objects.filter(**{f"{ident}__in": visible}).filter(admits)
        if self.kind == CONTRACTS:
            rows = rows.select_related("account")
        else:
            links = LINKS[self.kind]
            rows = rows.annotate(**{f"{name}_ids": linked_ids(model, name) for name in links})
        return rows.order_by("-cds_modified", ident)

    def require_field(self, field: str) -> None:
        if not any(field in e.fields(self.kind) for e in self.entries):
            raise InsufficientScope(f"the grant does not show {field}, so it cannot be filtered on")

    def search(self, term: str) -> Q:
        """``q``: the folded term inside a field the grant shows (matched in Python, so both
        databases answer alike), applied in SQL by primary key."""
        folded = fold(term)
        shown = {f for e in self.entries for f in e.fields(self.kind)}
        fields = [f for f in SEARCHED[self.kind] if f in shown]
        programs = self.policy.program_filter("service_programs")
        rows = list(
            self.rows().values("pk", *fields, *(["account_id"] if self.kind == CONTRACTS else []))
        )
        if self.kind == CONTRACTS and "account_number" in shown:
            numbers = self.policy.numbers_when((r["account_id"], self.as_of) for r in rows)
            for row in rows:
                row["account_number"] = numbers[(row["account_id"], self.as_of)]
            fields.append("account_number")
        found = [
            row["pk"]
            for row in rows
            if any(folded in fold(v) for f in fields for v in _search_values(f, row[f], programs))
        ]
        return Q(pk__in=found)

    @property
    def as_of(self) -> datetime:
        """The instant a contract's ``account_number`` is shown as of."""
        return max(e.cutoff for e in self.entries)

    def presenter(self, rows: list[Any]) -> Presenter:
        policy = self.policy
        numbers: dict[tuple, str | None] = {}
        shows_numbers = any("account_number" in e.fields(self.kind) for e in self.entries)
        if self.kind == CONTRACTS and shows_numbers:
            numbers = policy.numbers_when((row.account_id, self.as_of) for row in rows)

        def present(row: Any, data: dict[str, Any]) -> dict[str, Any]:
            entries = [e for e in self.entries if row.cds_modified <= e.cutoff]
            fields = _union(e.fields(self.kind) for e in entries)
            if self.kind == CONTRACTS and shows_numbers:
                number = numbers[(row.account_id, self.as_of)]
                data = _after(data, "cds_account_id", "account_number", number)
            for name in ARRAY_KINDS:
                if name in data:
                    data[name] = policy.prune(name, data[name] or [])
            if data.get("service_programs") is not None:
                data["service_programs"] = policy.programs(
                    "service_programs", data["service_programs"]
                )
            _synced(data, row, max(e.cutoff for e in entries))
            return _ordered(data, fields)

        return present
