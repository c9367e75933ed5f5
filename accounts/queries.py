"""Queries over the account graph that the policy needs on every request."""

import json
from collections.abc import Iterable

from django.db import connection
from django.db.models.expressions import RawSQL

from accounts.models import MeterDevice, ServiceContract, ServicePoint


def _links(field: object) -> tuple[str, str, str]:
    through = field.remote_field.through._meta  # type: ignore[attr-defined]
    return through.db_table, field.m2m_column_name(), field.m2m_reverse_name()  # type: ignore[attr-defined]


def service_ids(account_pks: Iterable[int]) -> dict[str, set[str]]:
    """The ids of the contracts of these accounts, the service points serving those contracts
    (now or before) and the meters now at a point now serving one of them: a meter seen at
    such a point only before, or at a point that served them only before, may be another
    customer's now (no dates are kept for those links), as the upstream vocabulary counts.

    One hand-written query: this runs on every request that shows reference arrays, and the
    ORM's version (joins ORed across four link tables) cost several milliseconds to build.
    """
    pks = list(account_pks)
    found: dict[str, set[str]] = {"contracts": set(), "points": set(), "meters": set()}
    if not pks:
        return found
    fields = {
        name: _links(model._meta.get_field(name))
        for model, name in (
            (ServicePoint, "current_servicecontracts"),
            (ServicePoint, "previous_servicecontracts"),
            (MeterDevice, "current_servicepoints"),
        )
    }
    qn = connection.ops.quote_name

    def linked(first: str, second: str) -> str:
        return " UNION ALL ".join(
            f"SELECT {qn(owner)} AS owner, {qn(target)} AS target FROM {qn(table)}"
            for table, owner, target in (fields[first], fields[second])
        )

    contract_t = qn(ServiceContract._meta.db_table)
    point_t = qn(ServicePoint._meta.db_table)
    meter_t = qn(MeterDevice._meta.db_table)
    marks = ", ".join(["%s"] * len(pks))
    sql = f"""
        WITH c AS (SELECT id, cds_servicecontract_id AS ident FROM {contract_t}
                   WHERE account_id IN ({marks})),
             p AS (SELECT DISTINCT sp.id, sp.cds_servicepoint_id AS ident FROM {point_t} sp
                   JOIN ({linked("current_servicecontracts", "previous_servicecontracts")}) l
                     ON l.owner = sp.id
                   WHERE l.target IN (SELECT id FROM c)),
             m AS (SELECT DISTINCT md.cds_meterdevice_id AS ident FROM {meter_t} md
                   JOIN {qn(fields["current_servicepoints"][0])} l
                     ON l.{qn(fields["current_servicepoints"][1])} = md.id
                   JOIN {qn(fields["current_servicecontracts"][0])} s
                     ON s.{qn(fields["current_servicecontracts"][1])}
                        = l.{qn(fields["current_servicepoints"][2])}
                   WHERE s.{qn(fields["current_servicecontracts"][2])} IN (SELECT id FROM c))
        SELECT 'contracts', ident FROM c
        UNION ALL SELECT 'points', ident FROM p
        UNION ALL SELECT 'meters', ident FROM m
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, pks)
        for kind, ident in cursor.fetchall():
            found[kind].add(ident)
    return found


def linked_ids(model: type, name: str) -> RawSQL:
    """The ids a many-to-many link ``name`` of ``model`` names, as one JSON array per row,
    in the linked model's order: an annotation, so a page and its links cost one query
    where ``prefetch_related`` costs one more per link."""
    field = model._meta.get_field(name)
    table, owner, target = _links(field)
    linked = field.related_model._meta
    ident = linked.ordering[0]
    qn = connection.ops.quote_name
    rows = (
        f"FROM {qn(table)} l JOIN {qn(linked.db_table)} o ON o.id = l.{qn(target)} "
        f"WHERE l.{qn(owner)} = {qn(model._meta.db_table)}.id"
    )
    return json_array(f"o.{qn(ident)}", rows, ordered=True)


def json_array(item: str, rows: str, ordered: bool = False) -> RawSQL:
    """A correlated subquery as an annotation: ``item`` of each of ``rows`` (``FROM ...
    WHERE ...``) as one JSON array (``[]`` when none), in ``item`` order if ``ordered``.
    Read it with ``json_list``."""
    if connection.vendor == "postgresql":
        order = f" ORDER BY {item}" if ordered else ""
        sql = f"SELECT COALESCE(json_agg({item}{order}), '[]') {rows}"
    elif ordered:
        sql = f"SELECT json_group_array(i) FROM (SELECT {item} AS i {rows} ORDER BY 1)"
    else:
        # Straight from the rows: through a subquery, SQLite hands a JSON item on as text.
        sql = f"SELECT json_group_array({item}) {rows}"
    return RawSQL(f"({sql})", ())


def json_list(value: str | list[str]) -> list[str]:
    """A ``linked_ids`` value as the database driver returns it (PostgreSQL: decoded)."""
    return json.loads(value) if isinstance(value, str) else value
