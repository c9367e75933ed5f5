"""Settings for cdsapi, read from the environment.

Every knob an operator may turn is an environment variable with a safe default, so the
same file serves `make demo` on a laptop and a production deployment.
"""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cdsapi import __version__
from cdsapi.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable."""
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Production serving (`make serve`, cdsapi/gunicorn.conf.py) sets CDS_REQUIRE_SECRET_KEY: a
# missing or short key is refused there (Django's own check --deploy asks for 50 characters).
_SERVING = not DEBUG and env_bool("CDS_REQUIRE_SECRET_KEY", False)
if _SERVING and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in the environment to serve in production: 50 or more "
        "random characters, such as python3 -c "
        "'import secrets; print(secrets.token_urlsafe(50))' prints."
    )
if not SECRET_KEY:
    # A fixed development key keeps a bare `manage.py` or `pytest` zero-setup (the Makefile
    # passes a generated one, var/secret_key); the prefix makes `check --deploy` refuse it.
    SECRET_KEY = "django-insecure-cdsapi-development-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

# HTTPS. The defaults are production's whenever DEBUG is off (`manage.py check --deploy` is
# clean with them): plain HTTP is redirected to HTTPS, HSTS, cookies only over HTTPS.
# SECURE_SSL_REDIRECT=0 is for a local plain-HTTP run only (it also drops the cookies'
# Secure flag unless SESSION_COOKIE_SECURE / CSRF_COOKIE_SECURE say otherwise). The health
# checks are never redirected (cdsapi.middleware.HealthChecks answers them first anyway).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SECURE_SSL_REDIRECT)


def meta_name(header: str) -> str:
    """A request header as Django's request.META names it: X-Forwarded-Proto and
    HTTP_X_FORWARDED_PROTO are both HTTP_X_FORWARDED_PROTO; empty stays empty."""
    name = header.strip().upper().replace("-", "_")
    return name if not name or name.startswith("HTTP_") else "HTTP_" + name


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``CDS_PROXY_SSL_HEADER``: the header a TLS-terminating proxy sets on every request it
    forwards, as ``HTTP_X_FORWARDED_PROTO`` (value ``https``), ``X-Forwarded-Proto`` or
    ``HTTP_X_FORWARDED_PROTO=https``. The proxy must overwrite whatever a client sent."""
    name, _, secure_value = value.partition("=")
    return (meta_name(name), secure_value.strip() or "https") if meta_name(name) else None


# Behind a TLS proxy: the header that says the client's request was HTTPS, and the origins
# (scheme and host, e.g. https://data.example-utility.com) whose forms CSRF trusts.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("CDS_PROXY_SSL_HEADER", ""))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "cdsapi",
    "accounts",
    "bills",
    "usage",
    "consent",
    "accesslog",
]

MIDDLEWARE = [
    # HEAD: GET's headers, no body (outermost, so the probes' answers too).
    "cdsapi.middleware.HeadWithoutBody",
    # Probes next: before host validation and the HTTPS redirect, and never logged.
    "cdsapi.middleware.HealthChecks",
    # One log line per request (with its X-Request-ID), whatever answers it below.
    "cdsapi.middleware.RequestLog",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # gzip for the APIs only: never the pages that show a secret once (BREACH).
    "cdsapi.middleware.ApiGZip",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cdsapi.middleware.AdminTimezone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A NUL character in a page's input: 400, not a 500.
    "cdsapi.middleware.UnstorableInput",
]

ROOT_URLCONF = "cdsapi.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "cdsapi.wsgi.application"
ASGI_APPLICATION = "cdsapi.asgi.application"


def database(url: str) -> dict:
    """A ``DATABASES`` entry from a dj-database-url URL: the main database's and the read
    replica's are built alike, so both behave the same but for the data they hold."""
    entry = dj_database_url.parse(
        url, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")), conn_health_checks=True
    )
    if entry["ENGINE"] == "django.db.backends.sqlite3":
        # Concurrent writers queue for the lock (up to 20 s) instead of failing at once with
        # "database is locked" when a transaction that began reading tries to write; in WAL
        # mode readers never wait for a writer (an import, say).
        entry.setdefault("OPTIONS", {}).update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL;",
            }
        )
    return entry


def replica_database(url: str) -> dict:
    """The read replica's entry (``DATABASE_REPLICA_URL``, see ``cdsapi.replica``). Its test
    database is one of its own, never a mirror of the main one, so tests can make it stale
    (on SQLite each alias's test database is its own, in memory). Its tables are made from
    the models, not by migrating: a real replica gets its schema from the primary, and the
    data migrations' own reads and writes would go through the router to the primary."""
    entry = database(url)
    entry["TEST"] = {"MIGRATE": False}
    if entry["ENGINE"] != "django.db.backends.sqlite3":
        entry["TEST"]["NAME"] = f"test_{entry['NAME']}_replica"
    return entry


# SQLite file in the project directory unless DATABASE_URL (set and not empty) names another.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": database(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The access log (accesslog) gets a SQLite file of its own next to the main one, so an
    # API request's log row never waits behind an import holding the main write lock. WAL
    # with synchronous=NORMAL: a row survives a crash of the process (not of the machine)
    # without an fsync per request.
    _main = str(DATABASES["default"]["NAME"])
    DATABASES["accesslog"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _main
        if not _main or _main == ":memory:"
        else str(Path(_main).with_name(Path(_main).stem + "-accesslog.sqlite3")),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
else:
    # Elsewhere (PostgreSQL) the same database, through a connection of its own: the log row
    # commits by itself whatever the request's transaction does, without waiting for its WAL
    # flush (synchronous_commit=off: a server crash may lose the last moment's rows, never
    # corrupt). Tests give it a database of its own.
    DATABASES["accesslog"] = {
        **DATABASES["default"],
        "OPTIONS": {
            **DATABASES["default"].get("OPTIONS", {}),
            "options": "-c synchronous_commit=off",
        },
        "TEST": {"NAME": f"test_{DATABASES['default']['NAME']}_accesslog"},
    }
DATABASE_ROUTERS = ["accesslog.router.AccessLogRouter"]
# An optional read replica: Customer Data listings read their rows there, everything that
# decides who may read what reads the main database (cdsapi.replica). Unset: no replica, and
# no router for it.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = replica_database(DATABASE_REPLICA_URL)
    DATABASE_ROUTERS.append("cdsapi.replica.ReplicaRouter")
# Days an access log row is kept; `manage.py cds_prune_access_log` deletes older ones.
CDS_ACCESS_LOG_DAYS = int(os.environ.get("CDS_ACCESS_LOG_DAYS", "365"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
# Django's own zone: the process's local time and the admin's display. Nothing the API serves
# or stores depends on it (all of that is UTC or CDS_TIMEZONE); CI runs the suite in an odd
# one to keep it that way.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Static files (the admin's, Swagger UI's) are served by WhiteNoise from STATIC_ROOT,
# which `manage.py collectstatic` fills (`make serve` runs it). With DEBUG off they have
# content-hashed names and far-future caching, and are precompressed; with DEBUG on they are
# read from the apps as they are. The test suite uses the plain storage (tests/conftest.py),
# so it needs no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The utility's own timezone: calendar days and months of usage aggregates, and relative
# authorization_details dates, are computed here unless a service point names its own.
CDS_TIMEZONE = os.environ.get("CDS_TIMEZONE", "America/Los_Angeles")

# Logs go to standard error: plain lines, or one JSON object per line with CDS_LOG_FORMAT=json
# (`make serve` and the gunicorn config default to it). Every request gets one line
# (cdsapi.middleware.RequestLog) and every record logged while it is served its request id;
# an error's traceback is logged once (cdsapi.logs).
CDS_LOG_FORMAT = os.environ.get("CDS_LOG_FORMAT", "plain").strip().lower()
if CDS_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("CDS_LOG_FORMAT must be plain or json.")
LOGGING = logging_config(CDS_LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO").upper())

# A cache shared by every worker: Redis (Django's RedisCache) when CDS_CACHE_URL names one,
# e.g. redis://127.0.0.1:6379/0. It holds the rate limits' counters and the resource
# server's introspection answers. Without it each process has its own memory cache, and the
# rate limits count in a table of the access log's database (cdsapi.api.throttling).
CDS_CACHE_URL = os.environ.get("CDS_CACHE_URL", "").strip()
if CDS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CDS_CACHE_URL,
            "KEY_PREFIX": os.environ.get("CDS_CACHE_PREFIX", "cdsapi"),
        }
    }

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*", re.I)


def env_rate(name: str, default: str) -> str:
    """A rate limit such as ``1200/min``, ``60/m``, ``10/s``, ``5000/h``, ``100/5min``; ``0``
    or empty turns it off (returned as "")."""
    value = os.environ.get(name, default).strip()
    if value in {"", "0"}:
        return ""
    if not _RATE.fullmatch(value):
        raise ImproperlyConfigured(f"{name}: expected a rate such as 1200/min, got {value!r}")
    return value


# Rate limits of the Customer Data and Grants APIs (cdsapi.api.throttling), answered 429 with
# Retry-After: requests per OAuth client, and failed authentications (a bearer token that is
# unknown, expired or revoked) per client IP address, checked before the token is looked up.
CDS_THROTTLE_CLIENT_RATE = env_rate("CDS_THROTTLE_CLIENT_RATE", "1200/min")
CDS_THROTTLE_FAILED_AUTH_RATE = env_rate("CDS_THROTTLE_FAILED_AUTH_RATE", "60/min")
# The client's address is REMOTE_ADDR (gunicorn: the peer). Behind a reverse proxy, name the
# header it sets (e.g. HTTP_X_FORWARDED_FOR; its last address is taken, the one the proxy
# saw): only when every request comes through that proxy, which must set the header.
CDS_CLIENT_IP_HEADER = meta_name(os.environ.get("CDS_CLIENT_IP_HEADER", ""))
# Browsers on these origins may call the Customer Data and Grants APIs (CORS); "*" for any.
CDS_CORS_ORIGINS = env_list("CDS_CORS_ORIGINS", [])

# OAuth 2.0 (django-oauth-toolkit). Its models are swapped for ours so that every token is
# bound to exactly one CDS grant; the validator adds RFC 9396 authorization_details.
OAUTH2_PROVIDER_APPLICATION_MODEL = "cdsapi.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "cdsapi.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "cdsapi.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "cdsapi.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "cdsapi.AuthorizationCode"

# Account fields a cds_current_accounts_details entry without "fields" grants (empty: all of
# them), and the finest usage granularity a cds_usage entry gets by default.
CDS_DEFAULT_ACCOUNT_FIELDS = env_list("CDS_DEFAULT_ACCOUNT_FIELDS", [])
# The scopes this server offers (cdsapi.grants.scopes): a dotted path to ScopeDescriptions.
CDS_SCOPES = os.environ.get("CDS_SCOPES", "cdsapi.grants.offered.SCOPES")
CDS_DEFAULT_AGGREGATION_TYPE = os.environ.get("CDS_DEFAULT_AGGREGATION_TYPE", "intervals")

# Discovery: the public base URL every metadata URL is built from, and what the server says
# of itself (WG1-01 §3). Documentation, policy and terms URLs are served only when set.
CDS_ISSUER = os.environ.get("CDS_ISSUER", "http://127.0.0.1:8000").rstrip("/")
CDS_SERVER_NAME = os.environ.get("CDS_SERVER_NAME", "cdsapi")
CDS_SERVER_DESCRIPTION = os.environ.get(
    "CDS_SERVER_DESCRIPTION", "Customer Data API (LF Energy CDS) for this utility's customers"
)
CDS_WEBSITE = os.environ.get("CDS_WEBSITE", CDS_ISSUER)
CDS_DOCUMENTATION = os.environ.get("CDS_DOCUMENTATION", CDS_ISSUER)
CDS_SUPPORT = os.environ.get("CDS_SUPPORT", CDS_ISSUER)
CDS_OP_POLICY_URI = os.environ.get("CDS_OP_POLICY_URI", "")
CDS_OP_TOS_URI = os.environ.get("CDS_OP_TOS_URI", "")
CDS_METADATA_CREATED = os.environ.get("CDS_METADATA_CREATED", "2026-11-27T00:00:00Z")
# Clients that act as resource servers: they may introspect any token (/oauth/introspect).
CDS_RESOURCE_SERVERS = env_list("CDS_RESOURCE_SERVERS", [])

# The consent flow (consent/): where customers log in, how long a pushed authorization
# request lives (RFC 9126), and how receipts are mailed (console by default: printed to the
# server's log; set CDS_EMAIL_BACKEND and Django's EMAIL_* settings for real mail).
LOGIN_URL = "consent-login"
LOGIN_REDIRECT_URL = "consent-my-grants"
CDS_PAR_SECONDS = int(os.environ.get("CDS_PAR_SECONDS", "600"))
EMAIL_BACKEND = os.environ.get(
    "CDS_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("CDS_FROM_EMAIL", "cdsapi@localhost")

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "cdsapi.grants.oauth.CdsOAuth2Validator",
    "SCOPES": {
        "cds_current_accounts_details": "Accounts: the selected accounts and granted fields",
        "cds_bill_statements": "Bill statements and bill sections of the selected accounts",
        "cds_usage": "Usage segments (interval data) of the selected accounts",
    },
    "DEFAULT_SCOPES": [],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("CDS_ACCESS_TOKEN_SECONDS", "3600")),
    # Store only a hash of each token (RFC 9700 §4.14): a database leak leaks no tokens.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "PKCE_REQUIRED": True,
    # RFC 9700 as DOT enforces it (its 4.0 defaults; `check --deploy` warns otherwise): no
    # implicit or password grant, PKCE with S256 only, a token never in a query string, and a
    # replayed refresh token revokes its whole family, and authorization responses carry
    # RFC 9207's `iss` (the consent flow adds it: consent.authorization.redirect_with).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
}

# One of DOT's RFC 9700 deploy warnings describes a choice made on purpose:
# W008: http redirect URIs stay allowed for native apps' loopback callbacks (RFC 8252 §7.3,
#       http://127.0.0.1:PORT/...; the demo's consent client uses one).
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W008"]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["cdsapi.api.renderers.ExactJSONRenderer"],
    # JSON only: `format` is an unknown query parameter like any other (400), not a renderer.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_AUTHENTICATION_CLASSES": ["cdsapi.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["cdsapi.api.authentication.HasGrantToken"],
    "EXCEPTION_HANDLER": "cdsapi.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI for the Customer Data API (cdsapi.api.schema); schema and docs are public, and the
# docs page loads Swagger UI from this server's static files (drf-spectacular-sidecar).
SPECTACULAR_SETTINGS = {
    "TITLE": "CDS Customer Data API",
    "DESCRIPTION": "LF Energy CDS-WG3-01 Customer Data API, as this server enforces grants.",
    "VERSION": __version__,
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "PREPROCESSING_HOOKS": ["cdsapi.api.schema.only_customer_data_api"],
    "POSTPROCESSING_HOOKS": ["cdsapi.api.schema.postprocess"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Customer Data API page size (the most a page holds; `limit` may ask for fewer).
CDS_PAGE_SIZE = int(os.environ.get("CDS_PAGE_SIZE", "100"))

# A resource server run apart from its authorization server (README: "Running the resource
# server separately"). With the AS's base URL set, the Customer Data and Grants APIs check
# bearer tokens by RFC 7662 introspection there, as a confidential client the AS lists in its
# CDS_RESOURCE_SERVERS, instead of reading the token table; empty keeps the local check. An
# answer is reused for at most CDS_INTROSPECTION_CACHE_SECONDS (and never past the token's
# expiry): that is how long a token revoked at the AS may still be served here.
CDS_AUTHORIZATION_SERVER_URL = os.environ.get("CDS_AUTHORIZATION_SERVER_URL", "").rstrip("/")
CDS_INTROSPECTION_CLIENT_ID = os.environ.get("CDS_INTROSPECTION_CLIENT_ID", "")
CDS_INTROSPECTION_CLIENT_SECRET = os.environ.get("CDS_INTROSPECTION_CLIENT_SECRET", "")
CDS_INTROSPECTION_CACHE_SECONDS = int(os.environ.get("CDS_INTROSPECTION_CACHE_SECONDS", "30"))
if CDS_AUTHORIZATION_SERVER_URL and not (
    CDS_INTROSPECTION_CLIENT_ID and CDS_INTROSPECTION_CLIENT_SECRET
):
    raise ImproperlyConfigured(
        "CDS_AUTHORIZATION_SERVER_URL needs CDS_INTROSPECTION_CLIENT_ID and "
        "CDS_INTROSPECTION_CLIENT_SECRET (a confidential client the authorization server "
        "lists in CDS_RESOURCE_SERVERS)."
    )
