"""The access token lookup that every API request makes, compiled once per connection.

Compiling its SQL (the token with its client, user and grant, and the grant's accounts)
took a quarter of an authenticated no-op request's time; the SQL never changes, only the
checksum does. ``CompiledLookup`` keeps what Django's compiler made for the first lookup
and builds the model instances from each new row exactly as ``QuerySet`` does (the same
converters and related populators), on the primary database.
"""

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# Stands in for the looked-up value in the compiled SQL's parameters.
_WANTED = "cdsapi-lookup-value"


class CompiledLookup:
    """``queryset(value).get()`` for one value, without compiling the SQL each time."""

    def __init__(self, name: str, queryset: Callable[[str], QuerySet]) -> None:
        self.name = f"cds_compiled_{name}"
        self.queryset = queryset

    def get(self, value: str) -> Model | None:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = getattr(connection, self.name, None)
        if compiled is None:
            compiled = _Compiled(self.queryset(_WANTED).using(DEFAULT_DB_ALIAS))
            setattr(connection, self.name, compiled)
        return compiled.get(value)


class _Compiled:
    def __init__(self, queryset: QuerySet) -> None:
        self.compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)
        self.sql, params = self.compiler.as_sql()
        self.positions = [n for n, p in enumerate(params) if p == _WANTED]
        self.params = list(params)
        if not self.positions:
            raise ValueError("the lookup's value is not among its SQL parameters")
        info = self.compiler.klass_info
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.attnames = [f[0].target.attname for f in self.compiler.select[self.start : self.end]]
        self.model = info["model"]

    def get(self, value: str) -> Model | None:
        params = list(self.params)
        for position in self.positions:
            params[position] = value
        compiler = self.compiler
        with compiler.connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            fetched = cursor.fetchone()
        if fetched is None:
            return None
        [row] = compiler.results_iter([[fetched]])
        found = self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, row[self.start : self.end])
        populators = get_related_populators(compiler.klass_info, compiler.select, DEFAULT_DB_ALIAS)
        for populator in populators:
            populator.populate(row, found)
        for name, position in (compiler.annotation_col_map or {}).items():
            setattr(found, name, row[position])
        return found
