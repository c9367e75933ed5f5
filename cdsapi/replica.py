"""The optional read replica (``DATABASE_REPLICA_URL``): the rows a Customer Data listing
serves are read there, so the primary's load is the writes and the access decisions.

Only the listing itself reads the replica: ``CdsListView.get`` runs ``rule.listing`` inside
``serving_listing()``, and only the models of the Customer Data apps are sent there. Before
the listing starts, the token, its grant, the grant's accounts, the accounts' holders and the
client have been read from the primary and compiled into the policy (``compile_policy``:
which accounts, which entries). So however far the replica lags, a revoked grant, an account
taken out of a grant, a holder or client change counts on the very next request; the lag
shows only in the rows served, as they were a moment ago. Writes always go to the primary.
(The ids reference arrays may show, ``accounts.queries.service_ids``, are one raw query on
the default connection: read on the primary, which is never less current.)

No ``allow_migrate``: the replica holds the primary's schema, so every table but the access
log's (kept off by its own router) may be made there, as its test database is.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"
# The apps of the rows the endpoints serve: accounts (with their versions, contracts, service
# points and meters), bills, usage. Grants, tokens, clients and users are never among them.
CUSTOMER_DATA_APPS = frozenset({"accounts", "bills", "usage"})
# Who holds an account (a link to a user) decides which accounts a customer's grant covers:
# read on the primary, though it is a table of the accounts app.
DECIDES_ACCESS = frozenset({"accounts.account_holders"})

_listing: ContextVar[bool] = ContextVar("cds_replica_listing", default=False)


@contextmanager
def serving_listing() -> Iterator[None]:
    """While an endpoint lists what the policy lets it serve: its Customer Data reads may go
    to the replica (a context variable, so each thread and task has its own)."""
    token = _listing.set(True)
    try:
        yield
    finally:
        _listing.reset(token)


def configured() -> bool:
    """Whether there is a replica (``DATABASE_REPLICA_URL`` set)."""
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Installed (after the access log's router) only with ``DATABASE_REPLICA_URL`` set.
    With the replica configured, it names the database of every read and write outright,
    never leaving it to Django's fallback: that would follow the database an instance was
    read from, sending a later read of a grant or a user through a replica-read account (or
    a save of a replica-read row) to the replica."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if not configured():
            return None
        meta = model._meta
        if (
            _listing.get()
            and meta.app_label in CUSTOMER_DATA_APPS
            and meta.label_lower not in DECIDES_ACCESS
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS if configured() else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """Rows of the replica and of the primary are rows of one database."""
        return True if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA} else None
