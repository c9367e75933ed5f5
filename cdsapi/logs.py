"""Logging: plain lines for a terminal, or one JSON object per line (``CDS_LOG_FORMAT=json``)
for a log pipeline, on standard error.

Every record logged while a request is served carries its request id (``request_id``: the
``X-Request-ID`` the response echoes; ``cdsapi.middleware.RequestLog`` sets it), and a
traceback stays inside its record (``exc_info`` in the JSON line). Each request gets one
line from ``RequestLog``; Django's own request log keeps only server errors, so that an
error's traceback is logged once. Nothing here may log a request's headers or query string
(they can carry tokens).

Imported by the settings module: the standard library only at import time.
"""

import logging
import re
from contextvars import ContextVar
from typing import Any

# The id of the request being served in this thread (or task); empty outside a request.
current_request_id: ContextVar[str] = ContextVar("cds_request_id", default="")

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
# Attributes some loggers attach that must never reach a log line: Django's django.request
# and django.server records carry the request (its repr shows the query string) or socket.
UNLOGGED_ATTRS = ("request", "server_time", "status_code")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record logged while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            rid = current_request_id.get()
            if rid:
                record.request_id = rid
        return True


class QueryStringRedactor(logging.Filter):
    """gunicorn quotes a request line it cannot parse in its error log, query string and
    all; a token may be in it. The query string is cut from such a line."""

    QUERY = re.compile(r"\?[^\s'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = self.QUERY.sub("?[query not logged]", message), ()
        return True


def json_formatter() -> dict[str, Any]:
    """The JSON formatter's dictConfig entry: ``time`` (UTC, ISO 8601), ``level``,
    ``logger``, ``message``, any ``extra`` fields, ``exc_info`` for a traceback."""
    from pythonjsonlogger.core import RESERVED_ATTRS

    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": JSON_FIELDS,
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
        "reserved_attrs": [*RESERVED_ATTRS, *UNLOGGED_ATTRS],
    }


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """Django's ``LOGGING`` for ``fmt`` (``plain`` or ``json``) at ``level``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "cdsapi.logs.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": PLAIN_FORMAT},
            **({"json": json_formatter()} if fmt == "json" else {}),
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (a DEBUG-only console, mail_admins) would repeat what the
            # root handler writes.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            # A 4xx is the request line's business; a 5xx (with its traceback) is logged here.
            "django.request": {"level": "ERROR"},
            # runserver (`make demo`) would write a second line per request: server errors only.
            "django.server": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # A Host header not in ALLOWED_HOSTS is the client's mistake (400, in the request
            # line), not an error with a traceback of whatever length it sent.
            "django.security.DisallowedHost": {"level": "CRITICAL"},
        },
    }


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's own log (``logconfig_dict``) in JSON on standard error; its access log
    is off (``cdsapi.middleware.RequestLog`` writes one line per request)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "filters": {"redact": {"()": "cdsapi.logs.QueryStringRedactor"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
            }
        },
        "formatters": {"json": json_formatter()},
    }
