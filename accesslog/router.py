"""The access log is read and written through the ``accesslog`` connection. With SQLite that is
a file of its own, so an API request's log row never waits behind an import holding the main
file's write lock; with PostgreSQL it is the main database through a second connection (its
table is then migrated with the main database's). Without an ``accesslog`` alias, ``default``.

Every model of the ``accesslog`` app goes there: the log's rows, and the rate limits'
counters (``ThrottleCounter``, written on every API request when no shared cache is set)."""

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from accesslog.apps import ALIAS


def access_log_database() -> str:
    return ALIAS if ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS


def separate() -> bool:
    """Whether the ``accesslog`` alias is a database apart from ``default``."""
    log, main = (connections[a].settings_dict for a in (ALIAS, DEFAULT_DB_ALIAS))
    keys = ("ENGINE", "NAME", "HOST", "PORT")
    return [log.get(k) for k in keys] != [main.get(k) for k in keys]


class AccessLogRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return access_log_database() if model._meta.app_label == ALIAS else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if ALIAS not in settings.DATABASES:
            return None
        if app_label == ALIAS:
            return db == (ALIAS if separate() else DEFAULT_DB_ALIAS)
        # Nothing else in the access log's own file.
        return False if db == ALIAS else None
