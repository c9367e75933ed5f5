"""Loading a validated document into the database: all of it or none of it.

Every check runs before the first write (each error is reported, up to a limit), every
object is upserted by its ``cds_*_id`` (accounts by id and ``cds_modified``, each new
``cds_modified`` a new version), and the whole load runs in one transaction, so a failing
document leaves nothing behind.
Loading the same document twice changes nothing the second time.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Max, Min
from pydantic import BaseModel, ValidationError

from accounts.models import (
    Account,
    AccountSearchText,
    AccountVersion,
    MeterDevice,
    ServiceContract,
    ServicePoint,
)
from bills.models import BillSection, BillStatement
from cdsapi import exactjson
from cdsapi.importer.errors import DEFAULT_MAX_ERRORS, DocumentError, ErrorCollector
from cdsapi.importer.schema import ImportDocument
from cdsapi.importer.values import check_values
from usage.aggregation import totals
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


def _upsert(
    model: type[models.Model], key: str, rows: list[dict[str, Any]], counts: Counts
) -> Upserted:
    """Create or update ``rows`` keyed by ``key``.

    Returns the key → primary key map of the rows and the primary keys created or updated.
    """
    existing = model.objects.in_bulk([row[key] for row in rows], field_name=key)
    to_create, to_update, changed = [], [], set()
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            to_create.append(model(**row))
            continue
        diff = [
            name
            for name, value in row.items()
            if _canonical(getattr(obj, name)) != _canonical(value)
        ]
        if diff:
            for name in diff:
                setattr(obj, name, row[name])
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

Reference = tuple[str, str, str]  # (what it names, path, id)


def _references(kind: str, base: str, obj: Any) -> Iterator[Reference]:
    """The references of one object of the list ``kind``, in the order of its fields."""

    def ref(target: str, name: str, ids: Iterable[str | None]) -> Iterator[Reference]:
        return ((target, f"{base}.{name}", i) for i in ids if i is not None)

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


class Loader:
    """Loads one validated document. Use ``load_document`` rather than this class directly."""

    def __init__(
        self, doc: ImportDocument, progress: Progress, max_errors: int = DEFAULT_MAX_ERRORS
    ) -> None:
        self.doc = doc
        self.progress = progress
        self.max_errors = max_errors
        self.result = ImportResult()
        self.pks: dict[str, dict[str, int]] = {}

    def run(self) -> ImportResult:
        segment_values = self._check()
        with transaction.atomic():
            self._accounts()
            self._contracts()
            self._service_points()
            self._meters()
            self._statements()
            self._sections()
            self._segments(segment_values)
            self._series_zones()
            self._customers()
        return self.result

    # -- validation, before any write -------------------------------------------------------

    def _check(self) -> list[tuple[str, str]]:
        """Every check of the document against itself and the database, objects in document
        order, each error reported; return each segment's values and per-format totals as
        exact JSON text."""
        errors = ErrorCollector(self.max_errors)
        known = self._known_ids()
        owners = self._statement_owners()
        texts: list[tuple[str, str]] = []
        for kind in self.doc.kinds:
            key = _IDENTITY[kind]
            seen: dict[Any, int] = {}
            for n, obj in enumerate(getattr(self.doc, kind)):
                base = f"{kind}[{n}]"
                ident = key(obj)
                if ident in seen:
                    errors.add(base, f"duplicate of {kind}[{seen[ident]}]")
                else:
                    seen[ident] = n
                if kind == "usage_segments" and obj.account_id is None:
                    errors.add(
                        f"{base}.cds_account_id",
                        "required when related_accounts does not name exactly one account",
                    )
                unknown = {
                    (path, ref): target
                    for target, path, ref in _references(kind, base, obj)
                    if ref not in known[target]
                }
                for (path, ref), target in unknown.items():
                    errors.add(path, f"unknown {_SOURCES[target][1]} {ref!r}")
                if kind == "bill_sections":
                    self._check_section_account(obj, base, owners, known["account"], errors)
                elif kind == "usage_segments":
                    text = self._check_segment(obj, base, errors)
                    if text is not None:
                        texts.append(text)
        errors.raise_if_any()
        return texts

    def _known_ids(self) -> dict[str, set[str]]:
        """Per kind of object referenced, the referenced ids that exist (in the document or
        in the database)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for kind in self.doc.kinds:
            for n, obj in enumerate(getattr(self.doc, kind)):
                for target, _path, ident in _references(kind, f"{kind}[{n}]", obj):
                    wanted[target].add(ident)
        known = {}
        for target, (model, key, kind) in _SOURCES.items():
            ids = {getattr(obj, key) for obj in getattr(self.doc, kind)}
            missing = wanted[target] - ids
            if missing:
                ids |= set(
                    model.objects.filter(**{f"{key}__in": missing}).values_list(key, flat=True)
                )
            known[target] = ids
        return known

    def _statement_owners(self) -> dict[str, str]:
        """The account of each statement the bill sections name (first in the document, or
        in the database)."""
        owners: dict[str, str] = {}
        for s in self.doc.bill_statements:
            owners.setdefault(s.cds_billstatement_id, s.cds_account_id)
        stored = {
            s.cds_billstatement_id for s in self.doc.bill_sections if s.cds_billstatement_id
        } - set(owners)
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

    def _check_segment(self, seg: Any, base: str, errors: ErrorCollector) -> tuple[str, str] | None:
        """A segment's end and values; its values and totals as JSON text if no error has
        been found so far (after one, nothing will be written)."""
        if seg.segment_end != seg.expected_end():
            errors.add(
                f"{base}.segment_end",
                f"expected {seg.expected_end().isoformat()} "
                f"(segment_start + {len(seg.values)} value sets x interval {seg.interval}s)",
            )
        checked = check_values(seg.values, [f.type for f in seg.formats], f"{base}.values", errors)
        self.progress(1)
        if errors:
            return None
        formats = _dump(seg.formats)
        return exactjson.dumps(checked), exactjson.dumps(totals(checked, formats))

    # -- writes ---------------------------------------------------------------------------

    def _accounts(self) -> None:
        counts = self.result.counts["accounts"]
        by_id: dict[str, list] = defaultdict(list)
        for a in self.doc.accounts:
            by_id[a.cds_account_id].append(a)
        existing = Account.objects.in_bulk(list(by_id), field_name="cds_account_id")
        identity = []
        for ident, versions in by_id.items():
            synced = max(v.cds_synced for v in versions)
            if ident in existing:
                synced = max(synced, existing[ident].cds_synced)
            identity.append({"cds_account_id": ident, "cds_synced": synced})
        pks = _upsert(Account, "cds_account_id", identity, Counts()).pks
        self.pks["account"] = _PkMap(Account, "cds_account_id", pks)

        current = {
            (v.account_id, v.cds_modified): v
            for v in AccountVersion.objects.filter(account_id__in=pks.values())
        }
        to_create, to_update, changed = [], [], set()
        for a in self.doc.accounts:
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
            diff = [k for k, v in row.items() if _canonical(getattr(version, k)) != _canonical(v)]
            if diff:
                for k in diff:
                    setattr(version, k, row[k])
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
        rows = [
            {
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
            for c in self.doc.service_contracts
        ]
        self._store(
            "contract", ServiceContract, "cds_servicecontract_id", rows, "service_contracts"
        )

    def _service_points(self) -> None:
        rows = [
            {
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
            for p in self.doc.service_points
        ]
        stored = self._store("point", ServicePoint, "cds_servicepoint_id", rows, "service_points")
        self._store_links(
            "service_points",
            self.doc.service_points,
            ServicePoint,
            stored,
            ("current_servicecontracts", "previous_servicecontracts"),
            self.pks["contract"],
        )

    def _meters(self) -> None:
        rows = [
            {
                "cds_meterdevice_id": m.cds_meterdevice_id,
                "cds_created": m.cds_created,
                "cds_modified": m.cds_modified,
                "cds_synced": m.cds_synced,
                "meter_number": m.meter_number,
                "meter_types": m.meter_types,
                "meter_apps": _dump(m.meter_apps),
            }
            for m in self.doc.meter_devices
        ]
        stored = self._store("meter", MeterDevice, "cds_meterdevice_id", rows, "meter_devices")
        self._store_links(
            "meter_devices",
            self.doc.meter_devices,
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
        rows = [
            {
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
            for s in self.doc.bill_statements
        ]
        self._store("statement", BillStatement, "cds_billstatement_id", rows, "bill_statements")

    def _sections(self) -> None:
        statements = self.pks["statement"]
        rows = [
            {
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
            for s in self.doc.bill_sections
        ]
        self._store("section", BillSection, "cds_billsection_id", rows, "bill_sections")

    def _segments(self, values: list[tuple[str, str]]) -> None:
        meters = self.pks["meter"]
        rows = [
            {
                "cds_usagesegment_id": u.cds_usagesegment_id,
                "cds_created": u.cds_created,
                "cds_modified": u.cds_modified,
                "cds_synced": u.cds_synced,
                "account_id": self.pks["account"][u.account_id],
                "meter_id": meters.get(u.meter_id),
                "segment_start": u.segment_start,
                "segment_end": u.segment_end,
                "interval": u.interval,
                "formats_json": exactjson.dumps(_dump(u.formats)),
                "values_json": text,
                "totals_json": totals_text,
                "related_json": exactjson.dumps(
                    {name: getattr(u, name) for name in RELATED_ARRAYS}
                ),
            }
            for u, (text, totals_text) in zip(self.doc.usage_segments, values, strict=True)
        ]
        self._store("segment", UsageSegment, "cds_usagesegment_id", rows, "usage_segments")
        self._series(rows)

    def _series(self, segments: list[dict[str, Any]]) -> None:
        """Refresh the summary of every series (account, meter) the document touched."""
        longest: dict[tuple[int, int | None], int] = defaultdict(int)
        for seg in segments:
            seconds = (seg["segment_end"] - seg["segment_start"]).total_seconds()
            key = (seg["account_id"], seg["meter_id"])
            longest[key] = max(longest[key], math.ceil(seconds))
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
        points = {self.pks["point"][p.cds_servicepoint_id] for p in self.doc.service_points}
        meters = {self.pks["meter"][m.cds_meterdevice_id] for m in self.doc.meter_devices}
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
        for cust in self.doc.customers:
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
        kind: str,
        model: type[models.Model],
        key: str,
        rows: list[dict[str, Any]],
        counts_key: str,
    ) -> Upserted:
        stored = _upsert(model, key, rows, self.result.counts[counts_key])
        self.pks[kind] = _PkMap(model, key, stored.pks)
        self.progress(len(rows))
        return stored


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


def object_count(doc: ImportDocument) -> int:
    """How many progress steps loading ``doc`` takes (for a progress bar)."""
    return sum(len(getattr(doc, kind)) for kind in KINDS) + len(doc.usage_segments)


def load_document(
    doc: ImportDocument,
    progress: Progress | None = None,
    *,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> ImportResult:
    """Load a validated document in one transaction. If it is wrong (references, duplicates,
    segments), write nothing and raise ``DocumentError`` listing up to ``max_errors`` errors in
    document order."""
    return Loader(doc, progress or (lambda n: None), max_errors).run()
