"""Loading a validated document into the database: all of it or none of it.

A document is read object by object (``read_document`` streams a file in memory that does
not grow with it; ``parse_document`` parses a text whole). Each object is checked before it is
written (against ids collected from the whole document first), upserted by its ``cds_*_id``
(accounts by id and ``cds_modified``, each new ``cds_modified`` a new version) in batches,
and the whole load runs in one transaction, so a failing document leaves nothing behind:
at the first error the writes roll back and every error is reported, up to a limit.
Loading the same document twice changes nothing the second time.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, NamedTuple

import msgspec
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.db.models import Max, Min
from pydantic import BaseModel, TypeAdapter, ValidationError

from accounts.models import (
    Account,
    AccountSearchText,
    AccountVersion,
    MeterDevice,
    ServiceContract,
    ServicePoint,
)
from bills.models import BillSection, BillStatement
from cdsapi import enums, exactjson
from cdsapi.importer import bulk
from cdsapi.importer.errors import DEFAULT_MAX_ERRORS, DocumentError, ErrorCollector
from cdsapi.importer.schema import MAX_SEGMENT_SECONDS, ImportDocument, UsageSegmentDoc
from cdsapi.importer.stream import (
    Reread,
    StreamedDocument,
    check_text,
    read_fast,
    read_stream,
    read_values,
)
from cdsapi.importer.values import check_values, plain_json, plain_values
from usage.aggregation import column_totals, totals
from usage.models import RELATED_ARRAYS, UsageSegment, UsageSeries

Progress = Callable[[int], None]
KINDS = (
    "accounts",
    "service_contracts",
    "service_points",
    "meter_devices",
    "bill_statements",
    "bill_sections",
    "usage_segments",
    "customers",
)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportResult:
    counts: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())


def parse_document(text: str | bytes, *, max_errors: int = DEFAULT_MAX_ERRORS) -> ImportDocument:
    """Parse and validate a document; raise ``DocumentError`` listing its schema errors in
    document order (the first ``max_errors`` of them, and how many more)."""
    try:
        data = exactjson.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        reason = getattr(exc, "msg", str(exc))
        raise DocumentError(
            "$", f"not valid JSON ({reason}, line {line} column {column})"
        ) from None
    if not isinstance(data, dict):
        raise DocumentError("$", "expected a JSON object with lists such as 'accounts'")
    try:
        return ImportDocument.model_validate(data).keep_order(data)
    except ValidationError as exc:
        raise DocumentError.from_validation_error(exc, data, max_errors) from None


def _canonical(value: Any) -> Any:
    """A comparable form of a field value: Decimals by their digits, JSON by its text."""
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, list | dict):
        return exactjson.dumps(value, sort_keys=True)
    return value


def _dump(item: BaseModel | list[BaseModel] | None) -> Any:
    """Nested objects as stored JSON: only the keys the source gave ("omitted when unknown")."""
    if item is None:
        return None
    if isinstance(item, list):
        return [_dump(i) for i in item]
    return item.model_dump(mode="python", exclude_unset=True, by_alias=True)


@dataclass
class Upserted:
    pks: dict[str, int]
    touched: set[int]


def _apply_changes(obj: models.Model, row: dict[str, Any]) -> list[str]:
    """Set on ``obj`` the fields of ``row`` whose value differs (exactly: ``0.40`` is not
    ``0.4``); their names."""
    diff = [
        name for name, value in row.items() if _canonical(getattr(obj, name)) != _canonical(value)
    ]
    for name in diff:
        setattr(obj, name, row[name])
    return diff


def _upsert(
    model: type[models.Model],
    key: str,
    rows: list[dict[str, Any]],
    counts: Counts,
    need_pks: bool = True,
    using: Any = None,
) -> Upserted:
    """Create or update ``rows`` keyed by ``key``: on PostgreSQL through ``bulk.upsert``,
    elsewhere through the ORM, comparing each existing row.

    Returns the key → primary key map of the rows (if ``need_pks``) and the primary keys
    created or updated.
    """
    if connection.vendor == "postgresql":
        written = bulk.upsert(model, key, rows, using)
        counts.created += len(written.created)
        counts.updated += len(written.updated)
        counts.unchanged += written.unchanged
        if not need_pks:
            return Upserted({}, set(written.updated.values()))
        pks = dict(
            model.objects.filter(**{f"{key}__in": [r[key] for r in rows]}).values_list(key, "pk")
        )
        return Upserted(pks, {pks[k] for k in written.created} | set(written.updated.values()))
    existing = model.objects.in_bulk([row[key] for row in rows], field_name=key)
    to_create, to_update, changed = [], [], set()
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            to_create.append(model(**row))
            continue
        diff = _apply_changes(obj, row)
        if diff:
            to_update.append(obj)
            changed.update(diff)
        else:
            counts.unchanged += 1
    model.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        model.objects.bulk_update(to_update, sorted(changed), batch_size=200)
    counts.created += len(to_create)
    counts.updated += len(to_update)
    keys = [row[key] for row in rows]
    pks = dict(model.objects.filter(**{f"{key}__in": keys}).values_list(key, "pk"))
    touched_keys = [row[key] for row in rows if row[key] not in existing] + [
        getattr(obj, key) for obj in to_update
    ]
    return Upserted(pks, {pks[k] for k in touched_keys})


def _sync_links(
    through: type[models.Model], owner: str, target: str, wanted: dict[int, set[int]]
) -> set[int]:
    """Make the many-to-many rows of each owner in ``wanted`` exactly its set of targets.

    Returns the owners whose links changed.
    """
    current: dict[int, set[int]] = defaultdict(set)
    rows = through.objects.filter(**{f"{owner}__in": list(wanted)}).values_list(owner, target)
    for owner_pk, target_pk in rows:
        current[owner_pk].add(target_pk)
    stale, fresh, changed = [], [], set()
    for owner_pk, targets in wanted.items():
        removed, added = current[owner_pk] - targets, targets - current[owner_pk]
        if removed or added:
            changed.add(owner_pk)
        stale.extend((owner_pk, t) for t in removed)
        fresh.extend(through(**{owner: owner_pk, target: t}) for t in added)
    for owner_pk, target_pk in stale:
        through.objects.filter(**{owner: owner_pk, target: target_pk}).delete()
    through.objects.bulk_create(fresh, batch_size=500)
    return changed


# What an object is keyed by: two objects of a list with the same key are duplicates.
_IDENTITY: dict[str, Callable[[Any], Any]] = {
    "accounts": lambda a: (a.cds_account_id, a.cds_modified),
    "service_contracts": lambda o: o.cds_servicecontract_id,
    "service_points": lambda o: o.cds_servicepoint_id,
    "meter_devices": lambda o: o.cds_meterdevice_id,
    "bill_statements": lambda o: o.cds_billstatement_id,
    "bill_sections": lambda o: o.cds_billsection_id,
    "usage_segments": lambda o: o.cds_usagesegment_id,
    "customers": lambda o: o.username,
}

# What a reference can name: (model, id field, list of the document).
_SOURCES: dict[str, tuple[type[models.Model], str, str]] = {
    "account": (Account, "cds_account_id", "accounts"),
    "contract": (ServiceContract, "cds_servicecontract_id", "service_contracts"),
    "point": (ServicePoint, "cds_servicepoint_id", "service_points"),
    "meter": (MeterDevice, "cds_meterdevice_id", "meter_devices"),
    "statement": (BillStatement, "cds_billstatement_id", "bill_statements"),
    "section": (BillSection, "cds_billsection_id", "bill_sections"),
}

Reference = tuple[str, str, str]  # (what it names, the field's path in the object, id)


def _references(kind: str, obj: Any) -> Iterator[Reference]:
    """The references of one object of the list ``kind``, in the order of its fields."""

    def ref(target: str, name: str, ids: Iterable[str | None]) -> Iterator[Reference]:
        return ((target, name, i) for i in ids if i is not None)

    def related() -> Iterator[Reference]:
        yield from ref("contract", "related_servicecontracts", obj.related_servicecontracts)
        yield from ref("point", "related_servicepoints", obj.related_servicepoints)
        yield from ref("meter", "related_meterdevices", obj.related_meterdevices)
        yield from ref("section", "related_billsections", obj.related_billsections)

    if kind == "accounts":
        yield from ref("account", "cds_account_parent", [obj.cds_account_parent])
    elif kind == "service_contracts":
        yield from ref("account", "cds_account_id", [obj.cds_account_id])
    elif kind == "service_points":
        yield from ref("contract", "current_servicecontracts", obj.current_servicecontracts)
        yield from ref("contract", "previous_servicecontracts", obj.previous_servicecontracts)
    elif kind == "meter_devices":
        yield from ref("point", "current_servicepoints", obj.current_servicepoints)
        yield from ref("point", "previous_servicepoints", obj.previous_servicepoints)
    elif kind == "bill_statements":
        yield from ref("account", "cds_account_id", [obj.cds_account_id])
        for c, charge in enumerate(obj.new_charges or []):
            name = f"new_charges[{c}].related_billsections"
            yield from ref("section", name, charge.related_billsections or [])
    elif kind == "bill_sections":
        yield from ref("statement", "cds_billstatement_id", [obj.cds_billstatement_id])
        yield from ref("account", "cds_account_id", [obj.cds_account_id])
        yield from related()
    elif kind == "usage_segments":
        # Given, or else the only entry of related_accounts / related_meterdevices (checked
        # there, so as not to report one id twice).
        yield from ref("account", "cds_account_id", [obj.cds_account_id])
        yield from ref("meter", "cds_meterdevice_id", [obj.cds_meterdevice_id])
        yield from ref("account", "related_accounts", obj.related_accounts)
        yield from related()
    elif kind == "customers":
        yield from ref("account", "accounts", obj.accounts)


# The kind of reference each list's ids answer (the reverse of ``_SOURCES``).
_TARGET_OF = {kind: target for target, (_model, _key, kind) in _SOURCES.items()}

# Objects are checked and written this many at a time, and segments at most this many value
# sets at a time (a segment may hold a day of quarter-hours or a year of hours).
BATCH_SIZE = 1000
BATCH_VALUE_SETS = 10_000  # the demo document: 142 MB peak RSS (50,000: 216 MB)


class Summary:
    """What the checks of one object need to know about the whole document, collected object
    by object in document order: ids, references and owners, never the objects themselves."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[Any, int]] = {kind: {} for kind in KINDS}
        # Per list, the position of each duplicate → the position of the first object.
        self.duplicates: dict[str, dict[int, int]] = {kind: {} for kind in KINDS}
        self.ids: dict[str, set[str]] = defaultdict(set)  # per target, ids in the document
        self.wanted: dict[str, set[str]] = defaultdict(set)  # per target, ids referenced
        self.owners: dict[str, str] = {}  # statement → account, first in the document
        self.section_statements: set[str] = set()  # statements the sections name
        self.account_synced: dict[str, Any] = {}  # account id → latest cds_synced given
        self.usernames: set[str] = set()  # of the customers

    def add(self, kind: str, n: int, obj: Any) -> None:
        ident = _IDENTITY[kind](obj)
        seen = self._seen[kind]
        if ident in seen:
            self.duplicates[kind][n] = seen[ident]
        else:
            seen[ident] = n
        for target, _name, ref in _references(kind, obj):
            self.wanted[target].add(ref)
        target = _TARGET_OF.get(kind)
        if target is not None:
            self.ids[target].add(getattr(obj, _SOURCES[target][1]))
        if kind == "accounts":
            synced = self.account_synced.get(obj.cds_account_id)
            if synced is None or obj.cds_synced > synced:
                self.account_synced[obj.cds_account_id] = obj.cds_synced
        elif kind == "bill_statements":
            self.owners.setdefault(obj.cds_billstatement_id, obj.cds_account_id)
        elif kind == "bill_sections" and obj.cds_billstatement_id:
            self.section_statements.add(obj.cds_billstatement_id)
        elif kind == "customers":
            self.usernames.add(obj.username)

    def done(self) -> "Summary":
        """Drop what only collecting needed (duplicates are found by then)."""
        self._seen = {kind: {} for kind in KINDS}
        return self


_VALUE_SETS = TypeAdapter(UsageSegmentDoc.model_fields["values"].annotation)

# The order the lists are written in, each after those it references: KINDS' own order.
WRITE_ORDER = KINDS


class _Parsed:
    """An in-memory ``ImportDocument`` read the way a streamed document is."""

    def __init__(self, doc: ImportDocument) -> None:
        self.doc = doc
        self.kinds = doc.kinds
        self.summary: Summary | None = None
        self.plan: tuple[str, ...] = self.kinds  # (a streamed document reads along it)
        self.deferred: frozenset[str] = frozenset()

    def count(self, kind: str) -> int:
        return len(getattr(self.doc, kind))

    def objects(self, kind: str) -> Iterator[Any]:
        return iter(getattr(self.doc, kind))


Document = ImportDocument | StreamedDocument


def _source(doc: Document) -> "_Parsed | StreamedDocument":
    return _Parsed(doc) if isinstance(doc, ImportDocument) else doc


class _Checked(NamedTuple):
    """A checked usage segment's JSON texts as stored, and how many value sets it has."""

    values: str
    totals: str
    formats: str
    value_sets: int


class _Invalid(Exception):
    """A check failed while writing: stop, roll back, and list every error in order."""


class Loader:
    """Loads one validated document. Use ``load_document`` rather than this class directly.

    Objects are read list by list in the order of their dependencies (accounts first, usage
    last), checked one at a time against what ``Summary`` collected and the database, and
    written in batches of ``BATCH_SIZE``. At the first error the writes stop and roll back,
    and a check of every object in document order lists the errors.
    """

    def __init__(
        self, doc: Document, progress: Progress, max_errors: int = DEFAULT_MAX_ERRORS
    ) -> None:
        self.source = _source(doc)
        self.progress = progress
        self.max_errors = max_errors
        self.result = ImportResult()
        self.pks: dict[str, dict[str, int]] = {}
        self.errors = ErrorCollector(max_errors)
        self.summary: Summary = self.source.summary or self._summarize()
        self.known: dict[str, set[str]] = {}
        self.owners: dict[str, str] = {}
        self.doc_points: set[int] = set()
        self.doc_meters: set[int] = set()
        self.longest: dict[tuple[int, int | None], int] = defaultdict(int)
        self.deferred = self.source.deferred  # lists not checked before loading
        self.seen: set[str] = set()  # ids of a deferred list so far

    def run(self) -> ImportResult:
        self.known = self._known_ids()
        self.owners = self._statement_owners()
        self.staff = self._staff_usernames()
        self.source.plan = WRITE_ORDER
        try:
            with transaction.atomic():
                self._accounts()
                self._contracts()
                self._service_points()
                self._meters()
                self._statements()
                self._sections()
                self._segments(self.source.objects("usage_segments"))
                self._series()
                self._series_zones()
                self._customers()
        except _Invalid:
            if self.deferred:
                raise Reread from None
            self._check_all()
            raise AssertionError("a check failed while writing but not on its own") from None
        return self.result

    # -- validation: every object is checked before it is written ----------------------------

    def _summarize(self) -> Summary:
        summary = Summary()
        for kind in self.source.kinds:
            for n, obj in enumerate(self.source.objects(kind)):
                summary.add(kind, n, obj)
        return summary.done()

    def _check_all(self) -> None:
        """Every check of every object in document order; raise ``DocumentError`` listing
        the errors (up to the limit)."""
        errors = ErrorCollector(self.max_errors)
        self.source.plan = self.source.kinds
        for kind in self.source.kinds:
            for n, obj in enumerate(self.source.objects(kind)):
                self._check(kind, n, obj, errors)
        errors.raise_if_any()

    def _check(self, kind: str, n: int, obj: Any, errors: ErrorCollector) -> Any:
        """The checks of one object against the document and the database; for a segment, its
        values and totals as JSON text (if no error has been found so far)."""
        base = f"{kind}[{n}]"
        first = self.summary.duplicates[kind].get(n)
        if first is not None:
            errors.add(base, f"duplicate of {kind}[{first}]")
        if kind in self.deferred:
            ident = _IDENTITY[kind](obj)
            if ident in self.seen:
                errors.add(base, "a duplicate")  # (the general reading says of which)
            self.seen.add(ident)
        if kind == "usage_segments" and obj.account_id is None:
            errors.add(
                f"{base}.cds_account_id",
                "required when related_accounts does not name exactly one account",
            )
        unknown = {
            (f"{base}.{name}", ref): target
            for target, name, ref in _references(kind, obj)
            if not self._known(target, ref)
        }
        for (path, ref), target in unknown.items():
            errors.add(path, f"unknown {_SOURCES[target][1]} {ref!r}")
        if kind == "customers" and obj.username in self.staff:
            errors.add(
                f"{base}.username",
                f"{obj.username!r} is a staff user: customers are imported as users without "
                "staff rights, and a staff user's email and accounts are not changed by imports",
            )
        if kind == "bill_sections":
            self._check_section_account(obj, base, self.owners, self.known["account"], errors)
        elif kind == "usage_segments":
            return self._check_segment(obj, base, errors)
        return None

    def _batches(self, kind: str, objects: Iterable[Any]) -> Iterator[list[tuple[Any, Any]]]:
        """The objects in batches of (object, what its check returned), each checked first:
        the first error stops the writes (raising ``_Invalid``)."""
        batch: list[tuple[Any, Any]] = []
        value_sets = 0
        for n, obj in enumerate(objects):
            checked = self._check(kind, n, obj, self.errors)
            if self.errors:
                raise Reread if kind in self.deferred else _Invalid
            batch.append((obj, checked))
            if kind == "usage_segments":
                value_sets += checked.value_sets
            if len(batch) >= BATCH_SIZE or value_sets >= BATCH_VALUE_SETS:
                yield batch
                batch, value_sets = [], 0
        if batch:
            yield batch

    def _staff_usernames(self) -> set[str]:
        """The document's customers that are staff users (or superusers) already."""
        if not self.summary.usernames:
            return set()
        users = get_user_model().objects.filter(username__in=self.summary.usernames)
        return set(
            users.filter(models.Q(is_staff=True) | models.Q(is_superuser=True)).values_list(
                "username", flat=True
            )
        )

    def _known_ids(self) -> dict[str, set[str]]:
        """Per kind of object referenced, the referenced ids that exist (in the document or
        in the database)."""
        known = {}
        for target, (model, key, _kind) in _SOURCES.items():
            ids = self.summary.ids[target]
            missing = self.summary.wanted[target] - ids
            if missing:
                ids = ids | set(
                    model.objects.filter(**{f"{key}__in": missing}).values_list(key, flat=True)
                )
            known[target] = ids
        return known

    def _known(self, target: str, ident: str) -> bool:
        """Whether a referenced id exists (the ids a deferred list references are looked up
        in the database as they come)."""
        known = self.known[target]
        if ident in known or not self.deferred:
            return ident in known
        model, key, _kind = _SOURCES[target]
        if model.objects.filter(**{key: ident}).exists():
            known.add(ident)
            return True
        return False

    def _statement_owners(self) -> dict[str, str]:
        """The account of each statement the bill sections name (first in the document, or
        in the database)."""
        owners = dict(self.summary.owners)
        stored = self.summary.section_statements - set(owners)
        if stored:
            owners.update(
                BillStatement.objects.filter(cds_billstatement_id__in=stored).values_list(
                    "cds_billstatement_id", "account__cds_account_id"
                )
            )
        return owners

    @staticmethod
    def _check_section_account(
        section: Any, base: str, owners: dict[str, str], accounts: set[str], errors: ErrorCollector
    ) -> None:
        """A bill section belongs to its statement's account (checked when both exist)."""
        statement = section.cds_billstatement_id
        if statement not in owners or section.cds_account_id not in accounts:
            return
        if owners[statement] != section.cds_account_id:
            errors.add(
                f"{base}.cds_account_id",
                f"{section.cds_account_id!r} is not the account of its statement "
                f"{statement!r} ({owners[statement]!r})",
            )

    def _check_segment(self, seg: Any, base: str, errors: ErrorCollector) -> "_Checked | None":
        """A segment's end and values; what to store of it if no error has been found so far
        (after one, nothing will be written)."""
        formats = _dump(seg.formats)
        keys = [enums.VALUE_KEYS[f.type] for f in seg.formats]
        if isinstance(seg.values, msgspec.Raw):  # read fast, as text (``stream._shells``)
            plain = plain_json(bytes(seg.values), keys)
            if plain is None:
                try:
                    seg.values = read_values(seg.values)
                except msgspec.MsgspecError:
                    raise Reread from None
        if not isinstance(seg.values, msgspec.Raw):
            plain = plain_values(seg.values, keys)
        if plain is None and self.deferred:
            try:  # not validated when read (see ``stream.read_fast``)
                _VALUE_SETS.validate_python(seg.values)
            except ValidationError:
                raise Reread from None
        count = plain.count if plain is not None else len(seg.values)
        try:
            expected = seg.expected_end(count)
        except (OverflowError, ValueError):
            expected = None
        if seg.segment_end != expected:
            where = expected.isoformat() if expected else "an instant past any date"
            errors.add(
                f"{base}.segment_end",
                f"expected {where} (segment_start + {count} value sets x interval {seg.interval}s)",
            )
        elif (seg.segment_end - seg.segment_start).total_seconds() > MAX_SEGMENT_SECONDS:
            errors.add(
                f"{base}.segment_end",
                f"a segment covers at most {MAX_SEGMENT_SECONDS} seconds (68 years); split it",
            )
        self.progress(1)
        if plain is not None:
            totals_text = exactjson.dumps(column_totals(plain.columns, formats))
            if errors:
                return None
            return _Checked(plain.text, totals_text, exactjson.dumps(formats), count)
        checked = check_values(seg.values, [f.type for f in seg.formats], f"{base}.values", errors)
        if errors:
            return None
        totals_text = exactjson.dumps(totals(checked, formats))
        return _Checked(exactjson.dumps(checked), totals_text, exactjson.dumps(formats), count)

    # -- writes ---------------------------------------------------------------------------

    def _accounts(self) -> None:
        counts = self.result.counts["accounts"]
        pks: dict[str, int] = {}
        synced = list(self.summary.account_synced.items())
        for start in range(0, len(synced), BATCH_SIZE):
            chunk = synced[start : start + BATCH_SIZE]
            existing = Account.objects.in_bulk([i for i, _ in chunk], field_name="cds_account_id")
            identity = [
                {
                    "cds_account_id": ident,
                    "cds_synced": max(latest, existing[ident].cds_synced)
                    if ident in existing
                    else latest,
                }
                for ident, latest in chunk
            ]
            pks.update(_upsert(Account, "cds_account_id", identity, Counts()).pks)
        self.pks["account"] = _PkMap(Account, "cds_account_id", pks)

        for batch in self._batches("accounts", self.source.objects("accounts")):
            current = {
                (v.account_id, v.cds_modified): v
                for v in AccountVersion.objects.filter(
                    account_id__in={pks[a.cds_account_id] for a, _ in batch}
                )
            }
            to_create, to_update, changed = [], [], set()
            for a, _ in batch:
                row = {
                    "account_id": pks[a.cds_account_id],
                    "cds_created": a.cds_created,
                    "cds_modified": a.cds_modified,
                    "cds_synced": a.cds_synced,
                    "parent_id": self.pks["account"].get(a.cds_account_parent),
                    "customer_number": a.customer_number,
                    "account_number": a.account_number,
                    "account_entity": _dump(a.account_entity),
                    "account_name": a.account_name,
                    "account_address": a.account_address,
                    "account_types": a.account_types,
                    "account_status": a.account_status,
                    "account_contacts": _dump(a.account_contacts),
                    "account_programs": _dump(a.account_programs),
                }
                version = current.get((row["account_id"], a.cds_modified))
                if version is None:
                    to_create.append(AccountVersion(**row))
                    continue
                diff = _apply_changes(version, row)
                if diff:
                    to_update.append(version)
                    changed.update(diff)
                else:
                    counts.unchanged += 1
                self.progress(1)
            AccountVersion.objects.bulk_create(to_create, batch_size=500)
            if to_update:
                AccountVersion.objects.bulk_update(to_update, sorted(changed), batch_size=200)
            touched = {v.account_id for v in [*to_create, *to_update]}
            if touched:
                AccountSearchText.rebuild(AccountVersion.objects.filter(account_id__in=touched))
            counts.created += len(to_create)
            counts.updated += len(to_update)

    def _contracts(self) -> None:
        def row(c: Any) -> dict[str, Any]:
            return {
                "cds_servicecontract_id": c.cds_servicecontract_id,
                "cds_created": c.cds_created,
                "cds_modified": c.cds_modified,
                "cds_synced": c.cds_synced,
                "account_id": self.pks["account"][c.cds_account_id],
                "contract_number": c.contract_number,
                "contract_address": c.contract_address,
                "contract_types": c.contract_types,
                "contract_entity": _dump(c.contract_entity),
                "contract_status": c.contract_status,
                "contract_start": c.contract_start,
                "contract_end": c.contract_end,
                "service_types": c.service_types,
                "rateplan_code": c.rateplan_code,
                "rateplan_name": c.rateplan_name,
                "service_programs": _dump(c.service_programs),
            }

        for _ in self._store("contract", ServiceContract, "service_contracts", row):
            pass

    def _service_points(self) -> None:
        def row(p: Any) -> dict[str, Any]:
            return {
                "cds_servicepoint_id": p.cds_servicepoint_id,
                "cds_created": p.cds_created,
                "cds_modified": p.cds_modified,
                "cds_synced": p.cds_synced,
                "servicepoint_number": p.servicepoint_number,
                "servicepoint_types": p.servicepoint_types,
                "servicepoint_address": p.servicepoint_address,
                "latitude": p.latitude,
                "longitude": p.longitude,
                "premises": _dump(p.premises),
                "timezone": p.timezone or "",
            }

        for batch, stored in self._store("point", ServicePoint, "service_points", row):
            self.doc_points.update(stored.pks.values())
            self._store_links(
                "service_points",
                [p for p, _ in batch],
                ServicePoint,
                stored,
                ("current_servicecontracts", "previous_servicecontracts"),
                self.pks["contract"],
            )

    def _meters(self) -> None:
        def row(m: Any) -> dict[str, Any]:
            return {
                "cds_meterdevice_id": m.cds_meterdevice_id,
                "cds_created": m.cds_created,
                "cds_modified": m.cds_modified,
                "cds_synced": m.cds_synced,
                "meter_number": m.meter_number,
                "meter_types": m.meter_types,
                "meter_apps": _dump(m.meter_apps),
            }

        for batch, stored in self._store("meter", MeterDevice, "meter_devices", row):
            self.doc_meters.update(stored.pks.values())
            self._store_links(
                "meter_devices",
                [m for m, _ in batch],
                MeterDevice,
                stored,
                ("current_servicepoints", "previous_servicepoints"),
                self.pks["point"],
            )

    def _store_links(
        self,
        kind: str,
        docs: list[Any],
        model: type[models.Model],
        stored: Upserted,
        names: tuple[str, ...],
        targets: dict[str, int],
    ) -> None:
        """Set the many-to-many lists ``names`` of each document object to exactly its ids."""
        key = model._meta.get_field(f"cds_{model._meta.model_name}_id").name
        changed: set[int] = set()
        for name in names:
            field = model._meta.get_field(name)
            wanted = {
                stored.pks[getattr(obj, key)]: {targets[i] for i in getattr(obj, name)}
                for obj in docs
            }
            changed |= _sync_links(
                field.remote_field.through,
                field.m2m_column_name(),
                field.m2m_reverse_name(),
                wanted,
            )
        # An object whose fields were unchanged but whose links changed was updated.
        relinked = len(changed - stored.touched)
        counts = self.result.counts[kind]
        counts.unchanged -= relinked
        counts.updated += relinked

    def _statements(self) -> None:
        def row(s: Any) -> dict[str, Any]:
            return {
                "cds_billstatement_id": s.cds_billstatement_id,
                "cds_created": s.cds_created,
                "cds_modified": s.cds_modified,
                "cds_synced": s.cds_synced,
                "account_id": self.pks["account"][s.cds_account_id],
                "statement_date": s.statement_date,
                "currency": s.currency,
                "file_uri": s.file_uri,
                "file_mimetype": s.file_mimetype,
                "previous_balance_amount": s.previous_balance_amount,
                "previous_balance_paid": s.previous_balance_paid,
                "previous_balance_unpaid": s.previous_balance_unpaid,
                "new_charges_amount": s.new_charges_amount,
                "new_charges": _dump(s.new_charges),
                "new_balance_amount": s.new_balance_amount,
                "amount_due": s.amount_due,
                "amount_due_date": s.amount_due_date,
                "shutoff_prevention_minimum_due": s.shutoff_prevention_minimum_due,
                "shutoff_prevention_date": s.shutoff_prevention_date,
                "account_programs": _dump(s.account_programs),
            }

        for _ in self._store("statement", BillStatement, "bill_statements", row):
            pass

    def _sections(self) -> None:
        statements = self.pks["statement"]

        def row(s: Any) -> dict[str, Any]:
            return {
                "cds_billsection_id": s.cds_billsection_id,
                "cds_created": s.cds_created,
                "cds_modified": s.cds_modified,
                "cds_synced": s.cds_synced,
                "statement_id": statements.get(s.cds_billstatement_id),
                "account_id": self.pks["account"][s.cds_account_id],
                "section_types": s.section_types,
                "start_date": s.start_date,
                "end_date": s.end_date,
                "currency": s.currency,
                "distribution_entity": _dump(s.distribution_entity),
                "supply_entity": _dump(s.supply_entity),
                "related_servicecontracts": s.related_servicecontracts,
                "related_servicepoints": s.related_servicepoints,
                "related_meterdevices": s.related_meterdevices,
                "related_billsections": s.related_billsections,
                "usage_details": _dump(s.usage_details),
                "cost_details": _dump(s.cost_details),
                "line_items": _dump(s.line_items),
            }

        for _ in self._store("section", BillSection, "bill_sections", row, keep_pks=False):
            pass

    def _segments(self, objects: Iterable[Any]) -> None:
        meters = self.pks["meter"]

        def row(u: Any, checked: _Checked) -> dict[str, Any]:
            return {
                "cds_usagesegment_id": u.cds_usagesegment_id,
                "cds_created": u.cds_created,
                "cds_modified": u.cds_modified,
                "cds_synced": u.cds_synced,
                "account_id": self.pks["account"][u.account_id],
                "meter_id": meters.get(u.meter_id),
                "segment_start": u.segment_start,
                "segment_end": u.segment_end,
                "interval": u.interval,
                "formats_json": checked.formats,
                "values_json": checked.values,
                "totals_json": checked.totals,
                "related_json": exactjson.dumps(
                    {name: getattr(u, name) for name in RELATED_ARRAYS}
                ),
            }

        counts = self.result.counts["usage_segments"]

        def write(rows: list[dict[str, Any]]) -> Callable[[Any], Any]:
            return lambda using: _upsert(
                UsageSegment, "cds_usagesegment_id", rows, counts, need_pks=False, using=using
            )

        with bulk.Pipeline() if connection.vendor == "postgresql" else _InLine() as writer:
            for batch in self._batches("usage_segments", objects):
                rows = [row(u, checked) for u, checked in batch]
                writer.submit(write(rows))
                self.progress(len(rows))
                for seg in rows:
                    seconds = (seg["segment_end"] - seg["segment_start"]).total_seconds()
                    key = (seg["account_id"], seg["meter_id"])
                    self.longest[key] = max(self.longest[key], math.ceil(seconds))

    def _series(self) -> None:
        """Refresh the summary of every series (account, meter) the document touched."""
        longest = self.longest
        if not longest:
            return
        spans = {
            (row["account_id"], row["meter_id"]): row
            for row in UsageSegment.objects.filter(account_id__in={a for a, _ in longest})
            .values("account_id", "meter_id")
            .annotate(first=Min("segment_start"), last=Max("segment_end"))
            .order_by()
        }
        zones = _meter_zones({m for _, m in longest if m is not None})
        for (account_pk, meter_pk), seconds in longest.items():
            span = spans[(account_pk, meter_pk)]
            series = UsageSeries.objects.filter(account_id=account_pk, meter_id=meter_pk).first()
            values = {
                "timezone": zones.get(meter_pk, ""),
                "first_start": span["first"],
                "last_end": span["last"],
                "max_segment_seconds": max(seconds, series.max_segment_seconds if series else 0),
            }
            if series is None:
                UsageSeries.objects.create(account_id=account_pk, meter_id=meter_pk, **values)
            elif any(getattr(series, k) != v for k, v in values.items()):
                UsageSeries.objects.filter(pk=series.pk).update(**values)

    def _series_zones(self) -> None:
        """A service point's timezone, or which points a meter is at, may change without new
        usage: the series of every meter the document touched take their zone again."""
        points = self.doc_points
        meters = set(self.doc_meters)
        if points:
            meters |= set(
                ServicePoint.current_meterdevices.through.objects.filter(
                    servicepoint_id__in=points
                ).values_list("meterdevice_id", flat=True)
            )
        if not meters:
            return
        zones = _meter_zones(meters)
        for series in UsageSeries.objects.filter(meter_id__in=meters):
            zone = zones.get(series.meter_id, "")
            if series.timezone != zone:
                UsageSeries.objects.filter(pk=series.pk).update(timezone=zone)

    def _customers(self) -> None:
        user_model = get_user_model()
        counts = self.result.counts["customers"]
        accounts = self.pks["account"]
        for batch in self._batches("customers", self.source.objects("customers")):
            for cust, _ in batch:
                self.progress(1)
                user = user_model.objects.filter(username=cust.username).first()
                wanted = {accounts[a] for a in cust.accounts}
                if user is None:
                    user = user_model(username=cust.username, email=cust.email)
                    user.set_unusable_password()
                    user.save()
                    user.cds_accounts.set(wanted)
                    counts.created += 1
                    continue
                changed = False
                if user.email != cust.email:
                    user.email = cust.email
                    user.save(update_fields=["email"])
                    changed = True
                if set(user.cds_accounts.values_list("pk", flat=True)) != wanted:
                    user.cds_accounts.set(wanted)
                    changed = True
                if changed:
                    counts.updated += 1
                else:
                    counts.unchanged += 1

    def _store(
        self,
        target: str,
        model: type[models.Model],
        kind: str,
        row: Callable[[Any], dict[str, Any]],
        keep_pks: bool = True,
    ) -> Iterator[tuple[list[tuple[Any, Any]], Upserted]]:
        """Upsert the objects of the list ``kind`` batch by batch, yielding each batch and
        what was stored; then the id → primary key map of the list is ``self.pks[target]``."""
        key = _SOURCES[target][1]
        pks: dict[str, int] = {}
        for batch in self._batches(kind, self.source.objects(kind)):
            rows = [row(obj) for obj, _ in batch]
            stored = _upsert(model, key, rows, self.result.counts[kind], need_pks=keep_pks)
            if keep_pks:
                pks.update(stored.pks)
            self.progress(len(rows))
            yield batch, stored
        self.pks[target] = _PkMap(model, key, pks)


class _InLine:
    """``bulk.Pipeline``'s interface, writing each batch at once (SQLite writes on one
    connection per thread)."""

    def __enter__(self) -> "_InLine":
        return self

    def submit(self, write: Callable[[Any], Any]) -> None:
        write(None)

    def __exit__(self, *exc: object) -> None:
        pass


class _PkMap(dict):
    """A key → primary key map of the document's objects that also looks up, in the database,
    objects the document only references (already checked to exist)."""

    def __init__(self, model: type[models.Model], key: str, known: dict[str, int]) -> None:
        super().__init__(known)
        self.model = model
        self.key = key

    def __missing__(self, ident: str) -> int:
        pk = self.model.objects.values_list("pk", flat=True).get(**{self.key: ident})
        self[ident] = pk
        return pk

    def get(self, ident: Any, default: Any = None) -> Any:
        if ident is None:
            return default
        return self[ident]


def _meter_zones(meter_pks: set[int]) -> dict[int, str]:
    """The timezone of a service point each meter is at now (of several, the last by id)."""
    return dict(
        ServicePoint.current_meterdevices.through.objects.filter(meterdevice_id__in=meter_pks)
        .exclude(servicepoint__timezone="")
        .order_by("servicepoint_id")
        .values_list("meterdevice_id", "servicepoint__timezone")
    )


def object_count(doc: Document) -> int:
    """How many progress steps loading ``doc`` takes (for a progress bar)."""
    source = _source(doc)
    return sum(source.count(kind) for kind in KINDS) + source.count("usage_segments")


def read_document(fp: IO[bytes], *, max_errors: int = DEFAULT_MAX_ERRORS) -> StreamedDocument:
    """Validate the JSON document in the seekable binary file ``fp`` incrementally, in memory
    that does not grow with it; raise ``DocumentError`` as ``parse_document`` does. The file
    must stay open until ``load_document`` has loaded the result."""
    check_text(fp)
    summary = Summary()
    doc = read_fast(fp, summary.add)
    if doc is None:
        return _read_generally(fp, max_errors)
    doc.summary = summary.done()
    return doc


def _read_generally(fp: IO[bytes], max_errors: int) -> StreamedDocument:
    """``read_stream`` with the summary the loader's checks need."""
    summary = Summary()
    doc = read_stream(fp, max_errors, summary.add)
    doc.summary = summary.done()
    return doc


def load_document(
    doc: Document,
    progress: Progress | None = None,
    *,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> ImportResult:
    """Load a validated document (from ``parse_document`` or ``read_document``) in one
    transaction. If it is wrong (references, duplicates, segments), write nothing and raise
    ``DocumentError`` listing up to ``max_errors`` errors in document order."""
    progress = progress or (lambda n: None)
    try:
        return Loader(doc, progress, max_errors).run()
    except Reread:
        # Read fast, found wrong while loading (and rolled back): read it the general way,
        # which lists every error in document order.
        assert isinstance(doc, StreamedDocument)
        return Loader(_read_generally(doc.fp, max_errors), progress, max_errors).run()
