"""Query-string filters of the Customer Data API (CDS-WG3-01 §10, per endpoint).

Lists are space-separated and match any value; parameters combine with AND. Filters only
ever narrow the policy's rows, and a filter on an account field asks the policy, which
refuses (403) a field the grant hides.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet

from cdsapi.api.exceptions import InvalidRequest
from cdsapi.times import to_date, to_datetime

MAX_LIST_VALUES = 500
MAX_VALUE_LENGTH = 255


class Filter(ABC):
    """One query parameter: ``parse`` checks its text (400 if malformed), ``apply`` narrows."""

    param: str

    def parse(self, raw: str) -> Any:
        return raw

    @abstractmethod
    def apply(self, rows: QuerySet, value: Any, rule: Any) -> QuerySet: ...


def parse_list(param: str, raw: str) -> list[str]:
    values = raw.split()
    if not values:
        raise InvalidRequest(f"{param}: give at least one value (space-separated)")
    if len(values) > MAX_LIST_VALUES:
        raise InvalidRequest(f"{param}: at most {MAX_LIST_VALUES} values")
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise InvalidRequest(f"{param}: a value is longer than {MAX_VALUE_LENGTH} characters")
    return values


@dataclass(frozen=True)
class IdList(Filter):
    """``param=a b c``: rows whose ``lookup`` is one of the values (ids never reveal anything:
    an id outside the grant matches nothing, like an id that does not exist)."""

    param: str
    lookup: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        return rows.filter(**{f"{self.lookup}__in": value})


@dataclass(frozen=True)
class ShownIds(Filter):
    """``param=a b`` on a link the response shows only where the grant does (a section's
    ``cds_billstatement_id``): rows linked to one of the ids the grant shows there."""

    param: str
    lookup: str
    name: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        return rows.filter(**{f"{self.lookup}__in": rule.policy.shown(self.name, value)})


@dataclass(frozen=True)
class AccountFieldList(Filter):
    """``param=a b``: rows whose account's ``field`` is one of the values, if the grant shows it."""

    param: str
    field: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        return rows.filter(rule.account_field(self.field, value))


@dataclass(frozen=True)
class Search(Filter):
    """``q=term``: the rule decides which (visible) fields are searched."""

    param: str = "q"

    def parse(self, raw: str) -> str:
        term = raw.strip()
        if not term or len(term) > MAX_VALUE_LENGTH:
            raise InvalidRequest(f"q: give a search term of 1 to {MAX_VALUE_LENGTH} characters")
        return term

    def apply(self, rows: QuerySet, value: str, rule: Any) -> QuerySet:
        return rows.filter(rule.search(value))


@dataclass(frozen=True)
class DateBound(Filter):
    """``before``/``after`` on dates, inclusive."""

    param: str
    lookup: str

    def parse(self, raw: str) -> date:
        try:
            return to_date(raw)
        except ValueError:
            raise InvalidRequest(f"{self.param}: expected a date YYYY-MM-DD, got {raw!r}") from None

    def apply(self, rows: QuerySet, value: date, rule: Any) -> QuerySet:
        return rows.filter(**{self.lookup: value})


@dataclass(frozen=True)
class DateTimeBound(Filter):
    """``before``/``after`` on datetimes, inclusive."""

    param: str
    lookup: str

    def parse(self, raw: str) -> datetime:
        try:
            # An unescaped "+" in a query string arrives as a space.
            return to_datetime(raw.replace(" ", "+"))
        except ValueError as exc:
            raise InvalidRequest(f"{self.param}: {exc}") from None

    def apply(self, rows: QuerySet, value: datetime, rule: Any) -> QuerySet:
        return rows.filter(**{self.lookup: value})


@dataclass(frozen=True)
class ArrayIds(Filter):
    """``param=a b``: rows whose reference array ``field``, as served (cut to the ids the grant
    shows), names one of the ids. The few rows of a grant are matched in memory, and the
    match is applied in SQL by primary key."""

    param: str
    field: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def wanted(self, rule: Any, value: list[str]) -> frozenset[str]:
        """The ids to look for: those asked for that the served array may show."""
        return rule.policy.shown(self.field, value)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        wanted = self.wanted(rule, value)
        if not wanted:
            return rows.none()
        matching = [
            pk for pk, ids in rows.values_list("pk", self.field) if not wanted.isdisjoint(ids or ())
        ]
        return rows.filter(pk__in=matching)


@dataclass(frozen=True)
class ObjectFieldList(ArrayIds):
    """``param=a b`` on a field of the objects a reference array names (a contract's number,
    a meter's number): rows whose served array names a visible object whose ``field`` is one
    of the values. Answered only if the grant shows that field, else 403 (no oracle)."""

    param: str
    field: str
    kind: str
    object_field: str

    def wanted(self, rule: Any, value: list[str]) -> frozenset[str]:
        ids = rule.policy.ids_with(self.kind, self.object_field, value)
        return rule.policy.shown(self.field, ids)


@dataclass(frozen=True)
class OwnFieldList(Filter):
    """``param=a b`` on a field of the listed objects themselves: 403 unless the grant shows
    that field (``rule.require_field``)."""

    param: str
    field: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        rule.require_field(self.field)
        return rows.filter(**{f"{self.field}__in": value})


@dataclass(frozen=True)
class AnyOfList(Filter):
    """``param=a b`` on a list field every visible object shows (``contract_types``,
    ``service_types``): objects holding any of the values, matched in Python so both
    databases answer alike."""

    param: str
    field: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        wanted = set(value)
        matching = [
            pk for pk, held in rows.values_list("pk", self.field) if wanted & set(held or ())
        ]
        return rows.filter(pk__in=matching)


@dataclass(frozen=True)
class LinkIds(Filter):
    """``current_servicecontracts=a b``...: objects whose served link array (cut to ids the
    grant shows) names one of the ids."""

    param: str
    field: str
    ident: str

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        wanted = rule.policy.shown(self.field, value)
        linked = rows.model.objects.filter(**{f"{self.field}__{self.ident}__in": wanted})
        return rows.filter(pk__in=linked.values("pk"))
