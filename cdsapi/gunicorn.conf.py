"""gunicorn settings for production serving: ``make serve``, or
``gunicorn -c cdsapi/gunicorn.conf.py`` from the project directory.

Everything comes from the environment (README, "Running in production"). Serving here means
production: DEBUG is off, SECRET_KEY is required and logs are JSON lines unless
CDS_LOG_FORMAT=plain.
"""

import multiprocessing
import os
import sys

# Read by cdsapi.settings in each process gunicorn starts.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdsapi.settings")
os.environ["DEBUG"] = "0"  # never under gunicorn: `make demo` is the debug server
os.environ["CDS_REQUIRE_SECRET_KEY"] = "1"
os.environ.setdefault("CDS_LOG_FORMAT", "json")
if not os.environ.get("SECRET_KEY"):
    sys.exit(
        "SECRET_KEY must be set in the environment to serve in production: 50 or more random "
        "characters, such as python3 -c 'import secrets; print(secrets.token_urlsafe(50))' prints."
    )

# Imported once the environment above is set (cdsapi.logs reads none of it, settings do).
from cdsapi.logs import gunicorn_logconfig


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "cdsapi.wsgi:application"
bind = [address.strip() for address in os.environ.get("CDS_BIND", "127.0.0.1:8000").split(",")]
# 2 x cores + 1 (gunicorn's rule of thumb), at most 8: each worker holds up to two database
# connections (the main one and the access log's).
workers = _int("CDS_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _int("CDS_THREADS", 1)
timeout = _int("CDS_TIMEOUT", 30)
graceful_timeout = _int("CDS_GRACEFUL_TIMEOUT", 30)
keepalive = _int("CDS_KEEPALIVE", 5)
# A worker is replaced after this many requests (0: never), with jitter so they do not all
# restart at once.
max_requests = _int("CDS_MAX_REQUESTS", 0)
max_requests_jitter = max(max_requests // 10, 0)
# Load the application once, in the master: a configuration error (a missing SECRET_KEY)
# stops the server at once with one message, and workers share the loaded code.
preload_app = True
# Addresses whose X-Forwarded-Proto gunicorn believes (its own rule; Django's is
# CDS_PROXY_SSL_HEADER). FORWARDED_ALLOW_IPS is gunicorn's own variable for it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (gunicornc) is one per user by default, which two servers would
# share: off unless CDS_CONTROL_SOCKET names a path for this one.
if os.environ.get("CDS_CONTROL_SOCKET"):
    control_socket = os.environ["CDS_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# Logs: gunicorn's access log is off (cdsapi.middleware.RequestLog writes one line per
# request, with its request id); its error log goes to standard error, in JSON when the
# application's is.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
if os.environ["CDS_LOG_FORMAT"].strip().lower() == "json":
    logconfig_dict = gunicorn_logconfig(loglevel.upper())


def post_fork(server: object, worker: object) -> None:
    """A worker opens its own database and cache connections, never the master's."""
    from django.core.cache import caches
    from django.db import connections

    connections.close_all()
    caches.close_all()
