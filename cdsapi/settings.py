"""Settings for cdsapi, read from the environment.

Every knob an operator may turn is an environment variable with a safe default, so the
same file serves `make demo` on a laptop and a production deployment.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cdsapi import __version__

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
if not SECRET_KEY:
    if not DEBUG and env_bool("CDS_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment.")
    # A fixed development key keeps `make demo` zero-setup; production sets SECRET_KEY.
    SECRET_KEY = "cdsapi-insecure-development-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

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
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cdsapi.middleware.AdminTimezone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# SQLite file in the project directory unless DATABASE_URL (set and not empty) names another.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers queue for the lock (up to 20 s) instead of failing at once with
    # "database is locked" when a transaction that began reading tries to write; in WAL mode
    # readers never wait for a writer (an import, say).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
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

# The utility's own timezone: calendar days and months of usage aggregates, and relative
# authorization_details dates, are computed here unless a service point names its own.
CDS_TIMEZONE = os.environ.get("CDS_TIMEZONE", "America/Los_Angeles")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

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
}

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
