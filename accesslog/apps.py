from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate

ALIAS = "accesslog"


class AccessLogConfig(AppConfig):
    name = "accesslog"
    verbose_name = "Access log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(migrate_access_log_database, sender=self)


def migrate_access_log_database(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``migrate`` on the main database also migrates the access log's own SQLite file next
    to it (so ``make demo-data`` needs nothing more); ``migrate --database accesslog`` does it
    alone. A test database (not next to the access log file) is left to the test runner."""
    if using != DEFAULT_DB_ALIAS or ALIAS not in connections.databases:
        return
    if connections[ALIAS].vendor != "sqlite":
        return  # the same database: its table was migrated with the main one
    main = str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"])
    log = str(connections[ALIAS].settings_dict["NAME"])
    if main.startswith("file:") or ":memory:" in main or Path(main).parent != Path(log).parent:
        return
    from django.core.management import call_command

    call_command(
        "migrate",
        database=ALIAS,
        interactive=False,
        verbosity=max(int(kwargs.get("verbosity", 1)) - 1, 0),
    )
