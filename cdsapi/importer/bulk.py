"""Creating or updating many rows by a unique key at the speed of ``COPY`` (PostgreSQL).

Which keys of a batch exist already is asked first (one index lookup). New rows are copied
straight into the table (``COPY``, the database's own fast load). Rows that exist are copied
into a temporary staging table shaped like the target, then one ``UPDATE ... FROM`` changes
those that differ *as text*, so ``0.40`` and ``0.4`` (equal numerics) are a change, and an
unchanged row is not written at all; ``RETURNING`` tells which were updated.

The table is locked against other writers (``SHARE ROW EXCLUSIVE``: readers are never
blocked) for the rest of the transaction, so no key can appear between the lookup and the
copy. A key given twice in one batch is never seen here: the loader rejects repeated ids,
with their paths, before anything is written (``loader.Summary``).
"""

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

from cdsapi.fields import ExactDecimalField


@dataclass
class Written:
    created: list[Any]  # the keys of the rows created
    updated: dict[Any, int]  # key → primary key of each row updated
    unchanged: int


def upsert(
    model: type[models.Model], key: str, rows: list[dict[str, Any]], using: Any = None
) -> Written:
    """Create or update ``rows`` (attribute name → value, the same names in every row) of
    ``model`` by its unique field ``key``, on the connection ``using`` (default: this
    thread's)."""
    if not rows:
        return Written([], {}, 0)
    connection = using or connections[DEFAULT_DB_ALIAS]
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    key_column = q(model._meta.get_field(key).column)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"SELECT {key_column} FROM {table} WHERE {key_column} = ANY(%s)",
            [[row[key] for row in rows]],
        )
        existing = {r[0] for r in cursor.fetchall()}
        new = [row for row in rows if row[key] not in existing]
        old = [row for row in rows if row[key] in existing]
        if new:
            names, defaults = _with_defaults(model, list(new[0]))
            _copy(cursor, table, model, names, defaults, new)
        updated: dict[Any, int] = {}
        if old:
            updated = _update(cursor, model, key, old)
    return Written([row[key] for row in new], updated, len(old) - len(updated))


def _with_defaults(model: type[models.Model], given: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The fields to copy for a new row: those given, and the others with their defaults
    (as ``bulk_create`` gives them)."""
    defaults = {
        f.attname: f.get_default()
        for f in model._meta.concrete_fields
        if f.attname not in given and not f.primary_key
    }
    return given + list(defaults), defaults


def _copy(
    cursor: Any,
    table: str,
    model: type[models.Model],
    names: list[str],
    defaults: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    q = cursor.db.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    preps = [_prep(f, cursor.db) for f in fields]
    cols = ", ".join(q(f.column) for f in fields)
    with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            if defaults:
                row = {**row, **defaults}
            copy.write_row([prep(row[n]) for prep, n in zip(preps, names, strict=True)])


def _update(
    cursor: Any, model: type[models.Model], key: str, rows: list[dict[str, Any]]
) -> dict[Any, int]:
    """Update the rows that differ; their keys and primary keys."""
    q = cursor.db.ops.quote_name
    names = list(rows[0])
    table = q(model._meta.db_table)
    stage = q(f"cds_stage_{model._meta.db_table}")
    columns = [q(model._meta.get_field(n).column) for n in names]
    key_column = q(model._meta.get_field(key).column)
    others = [c for c in columns if c != key_column]
    cols = ", ".join(columns)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
        f"SELECT {cols} FROM {table} WITH NO DATA"
    )
    cursor.execute(f"TRUNCATE {stage}")
    _copy(cursor, stage, model, names, {}, rows)
    differs = " OR ".join(f"t.{c}::text IS DISTINCT FROM s.{c}::text" for c in others)
    cursor.execute(
        f"UPDATE {table} AS t SET "
        + ", ".join(f"{c} = s.{c}" for c in others)
        + f" FROM {stage} AS s WHERE t.{key_column} = s.{key_column} AND ({differs}) "
        f"RETURNING t.{key_column}, t.{q(model._meta.pk.column)}"
    )
    return dict(cursor.fetchall())


# Fields whose validated values (``cdsapi.importer.schema``) psycopg adapts as they are: what
# ``get_db_prep_save`` would return for them on PostgreSQL, without a call per value.
_AS_THEY_ARE = (
    models.CharField,
    models.TextField,
    models.ForeignKey,
    models.IntegerField,
    models.DateTimeField,
    models.DateField,
    models.BooleanField,
    ExactDecimalField,
)


def _prep(field: models.Field, connection: Any) -> Callable[[Any], Any]:
    """The value to copy for a field: what the ORM would send."""
    if isinstance(field, _AS_THEY_ARE):
        return _same
    return lambda value: field.get_db_prep_save(value, connection)


def _same(value: Any) -> Any:
    return value


class Pipeline:
    """Runs each batch's writes on a second thread, on the caller's connection (the same
    transaction), while the caller reads and checks the next batch: the database's work and
    Python's overlap on two cores. One batch at most is being written; an error in it is
    raised by the next ``submit`` or at the end."""

    def __init__(self) -> None:
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future[Any] | None = None

    def __enter__(self) -> "Pipeline":
        self.connection.inc_thread_sharing()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cds-import-writer")
        return self

    def submit(self, write: Callable[[Any], Any]) -> None:
        """Call ``write(connection)`` once the batch before it is written."""
        self.wait()
        self.pending = self.pool.submit(write, self.connection)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
            elif self.pending is not None:
                self.pending.exception()  # finish it before the transaction rolls back
        finally:
            self.pool.shutdown()
            self.connection.dec_thread_sharing()
