"""Production serving: the deploy checks, HTTPS and the probes, gzip for the APIs only,
OPTIONS, JSON request logs, and a real gunicorn (HEAD, static files, shared rate limits)."""

import gzip
import http.client
import importlib
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from accesslog.models import AccessLogEntry
from cdsapi.logs import json_formatter
from tests.factories import AccountFactory, AccountVersionFactory

ROOT = Path(__file__).resolve().parent.parent
API = "/cds-customerdata-api/v1/"
ACCOUNTS = [{"type": "cds_current_accounts_details"}]
# What an operator's environment might hold that would change the production defaults.
UNSET = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "STATIC_ROOT", "LOG_LEVEL")
UNSET_PREFIXES = ("CDS_", "SECURE_", "SESSION_COOKIE_", "CSRF_", "DJANGO_", "FORWARDED_ALLOW")


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process: nothing but a SECRET_KEY and a database."""
    env = {
        k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith(UNSET_PREFIXES)
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        CDS_REQUIRE_SECRET_KEY="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        **extra,
    )
    return env


def manage(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- settings ------------------------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_production_defaults(tmp_path) -> None:
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_refuses_the_development_key(tmp_path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"], env["CDS_REQUIRE_SECRET_KEY"]
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode != 0
    assert "security.W009" in done.stdout + done.stderr


@pytest.fixture
def fresh_settings(monkeypatch):
    """The settings module as a given environment computes it (then as it was)."""
    import cdsapi.settings as module

    def load(**env: str) -> dict[str, Any]:
        with monkeypatch.context() as patched:
            for name in list(os.environ):
                if name in UNSET or name.startswith(UNSET_PREFIXES):
                    patched.delenv(name)
            for name, value in env.items():
                patched.setenv(name, value)
            return dict(vars(importlib.reload(module)))

    yield load
    importlib.reload(module)


def test_the_production_defaults(fresh_settings) -> None:
    found = fresh_settings(SECRET_KEY=secrets.token_urlsafe(50))
    assert found["DEBUG"] is False
    assert found["SECURE_SSL_REDIRECT"] is True
    assert found["SECURE_HSTS_SECONDS"] == 31536000
    assert found["SESSION_COOKIE_SECURE"] is found["CSRF_COOKIE_SECURE"] is True
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    assert found["CSRF_TRUSTED_ORIGINS"] == []
    assert "CompressedManifest" in found["STORAGES"]["staticfiles"]["BACKEND"]
    assert found["MIDDLEWARE"][:6] == [
        "cdsapi.middleware.HeadWithoutBody",
        "cdsapi.middleware.HealthChecks",
        "cdsapi.middleware.RequestLog",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "cdsapi.middleware.ApiGZip",
    ]
    assert (found["CDS_THROTTLE_CLIENT_RATE"], found["CDS_THROTTLE_FAILED_AUTH_RATE"]) == (
        "1200/min",
        "60/min",
    )
    assert "CACHES" not in found  # without CDS_CACHE_URL: Django's per-process default


def test_a_tls_proxy_a_local_http_run_and_redis(fresh_settings) -> None:
    proxied = fresh_settings(
        CDS_PROXY_SSL_HEADER="X-Forwarded-Proto",
        CSRF_TRUSTED_ORIGINS="https://data.example.com, https://admin.example.com",
        CDS_CLIENT_IP_HEADER="X-Forwarded-For",
    )
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxied["CSRF_TRUSTED_ORIGINS"] == [
        "https://data.example.com",
        "https://admin.example.com",
    ]
    assert proxied["CDS_CLIENT_IP_HEADER"] == "HTTP_X_FORWARDED_FOR"
    assert fresh_settings(CDS_PROXY_SSL_HEADER="HTTP_X_SCHEME=on")["SECURE_PROXY_SSL_HEADER"] == (
        "HTTP_X_SCHEME",
        "on",
    )
    local = fresh_settings(SECURE_SSL_REDIRECT="0")
    assert local["SECURE_SSL_REDIRECT"] is local["SESSION_COOKIE_SECURE"] is False
    demo = fresh_settings(DEBUG="1")
    assert demo["SECURE_SSL_REDIRECT"] is False and demo["SECURE_HSTS_SECONDS"] == 0
    assert demo["STORAGES"]["staticfiles"]["BACKEND"].endswith(".StaticFilesStorage")
    cached = fresh_settings(CDS_CACHE_URL="redis://127.0.0.1:6379/0")
    assert cached["CACHES"]["default"]["BACKEND"].endswith("RedisCache")


def test_serving_in_production_requires_a_secret_key(fresh_settings) -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        fresh_settings(CDS_REQUIRE_SECRET_KEY="1")
    for weak in ("short", "x" * 60):
        with pytest.raises(ImproperlyConfigured, match="50 or more"):
            fresh_settings(CDS_REQUIRE_SECRET_KEY="1", SECRET_KEY=weak)
    strong = "k3y-" + "abcdefghij" * 5
    assert fresh_settings(CDS_REQUIRE_SECRET_KEY="1", SECRET_KEY=strong)["SECRET_KEY"] == strong
    # Without it (a bare manage.py or pytest) a development key that check --deploy refuses.
    assert fresh_settings()["SECRET_KEY"].startswith("django-insecure-")


# -- HTTPS and the probes ------------------------------------------------------------------------


def test_plain_http_is_redirected_but_probes_are_answered_first(db, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    redirected = client.get(API + "accounts?limit=1")
    assert redirected.status_code == 301
    assert redirected["Location"] == f"https://testserver{API}accounts?limit=1"
    for probe in ("/healthz", "/readyz"):
        # Over plain HTTP, with the pod's address as Host (not in ALLOWED_HOSTS).
        answered = client.get(probe, HTTP_HOST="10.1.2.3:8000")
        assert answered.status_code == 200, probe
        assert answered.json() == {"status": "ok"}
    # Anything else from an unknown host is refused.
    assert client.get(API + "accounts", HTTP_HOST="10.1.2.3:8000", secure=True).status_code == 400


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(db, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get(API + "accounts", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 401  # served (no token), not redirected
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


# -- gzip: the APIs only -------------------------------------------------------------------------


def test_gzip_for_the_apis_only(db, client, admin_client, token_for) -> None:
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-z"))
    token = token_for(["acc-z"], ACCOUNTS)
    accept = {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}
    schema = client.get(API + "schema", **accept)
    assert schema["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in schema["Vary"]
    assert json.loads(gzip.decompress(schema.content))["openapi"]
    data = client.get(API + "accounts", HTTP_AUTHORIZATION=f"Bearer {token}", **accept)
    assert data["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(data.content))["accounts"]
    assert not client.get(API + "schema").has_header("Content-Encoding")
    # Never the pages: the admin's (it shows new secrets and tokens once) and the consent's.
    for page in ("/admin/login/", "/admin/", "/login"):
        browser = admin_client if page == "/admin/" else client
        response = browser.get(page, **accept)
        assert response.status_code == 200, page
        assert len(response.content) > 200, page
        assert not response.has_header("Content-Encoding"), page


def test_api_answers_are_never_cached_on_the_way(db, client, token_for) -> None:
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-z"))
    token = token_for(["acc-z"], ACCOUNTS)
    for auth in (f"Bearer {token}", "Bearer nonsense"):
        response = client.get(API + "accounts", HTTP_AUTHORIZATION=auth)
        assert response["Cache-Control"] == "no-store", auth


def test_a_foreign_host_header_is_a_400_without_a_traceback(db, client, caplog) -> None:
    with caplog.at_level(logging.INFO):
        response = client.get(API + "accounts", HTTP_HOST="x" * 5000 + ".example")
    assert response.status_code == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- OPTIONS and CORS ----------------------------------------------------------------------------


def test_options_answers_allow_without_a_token(db, client) -> None:
    for path, allow in (
        (API + "accounts", "GET, HEAD, OPTIONS"),
        (API + "usage-segments", "GET, HEAD, OPTIONS"),
        ("/cds-api/v1/grants", "GET, HEAD, OPTIONS"),
        ("/cds-api/v1/grants/grt-anything", "GET, HEAD, PATCH, OPTIONS"),
    ):
        response = client.options(path)
        assert response.status_code == 204, (path, response.content)
        assert response["Allow"] == allow
        assert response.content == b""
        assert not response.has_header("Access-Control-Allow-Origin")
    # Other methods are still refused before authentication, in JSON.
    refused = client.post(API + "accounts")
    assert refused.status_code == 405
    assert refused.json()["error"] == "invalid_request"
    assert refused["Allow"] == "GET, HEAD"
    assert client.options(API + "no-such-endpoint").status_code == 404


def test_cors_for_the_origins_configured(db, client, settings, token_for) -> None:
    settings.CDS_CORS_ORIGINS = ["https://app.example.com"]
    preflight = client.options(
        API + "accounts",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert preflight["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Origin" in preflight["Vary"]
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-o"))
    token = token_for(["acc-o"], ACCOUNTS)
    served = client.get(API + "accounts", HTTP_ORIGIN="https://app.example.com", **bearer(token))
    assert served["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "X-Request-ID" in served["Access-Control-Expose-Headers"]
    other = client.options(API + "accounts", HTTP_ORIGIN="https://evil.example.net")
    assert not other.has_header("Access-Control-Allow-Origin")


# -- logs ----------------------------------------------------------------------------------------


def as_json(record: logging.LogRecord) -> dict[str, Any]:
    config = json_formatter()
    config.pop("()")
    line = JsonFormatter(**config).format(record)
    assert "\n" not in line
    return json.loads(line)


def test_one_json_log_line_per_request_with_its_id_and_no_token(
    db, client, token_for, caplog
) -> None:
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-l"))
    token = token_for(["acc-l"], ACCOUNTS)
    caplog.set_level(logging.INFO)
    response = client.get(
        API + "accounts?limit=1&access_token=" + token,
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 400  # a token in the query string is refused
    response = client.get(API + "accounts", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "cdsapi.request"]
    assert len(lines) == 2
    first, second = (as_json(r) for r in lines)
    assert first["request_id"] == "req-123"
    assert (first["method"], first["path"], first["status"]) == ("GET", API + "accounts", 400)
    assert second["request_id"] == response["X-Request-ID"] != "req-123"
    assert second["status"] == 200 and second["duration_ms"] >= 0
    assert {"time", "level", "logger", "message"} <= set(second)
    # The access log row carries the same id as the log line.
    assert AccessLogEntry.objects.filter(request_id=second["request_id"]).exists()
    assert token not in caplog.text
    assert all(token not in json.dumps(as_json(r)) for r in caplog.records)


def test_an_error_logs_its_traceback_once(db, client, token_for, caplog, monkeypatch) -> None:
    from accounts.views import AccountsView

    def broken(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(AccountsView, "get", broken)
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-e"))
    token = token_for(["acc-e"], ACCOUNTS)
    caplog.set_level(logging.INFO)
    response = client.get(API + "accounts", HTTP_X_REQUEST_ID="req-boom", **bearer(token))
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1
    logged = as_json(with_traceback[0])
    assert "RuntimeError: boom" in logged["exc_info"]
    assert logged["request_id"] == "req-boom"
    assert not [r for r in caplog.records if r.name == "django.request"]
    assert len([r for r in caplog.records if r.name == "cdsapi.request"]) == 1


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# -- a real gunicorn -----------------------------------------------------------------------------

SETUP = """
from django.core.management import call_command
from cdsapi.api import throttling
from cdsapi.grants import lifecycle
from cdsapi.models import Application

call_command("cds_import", "fixtures/sample.json", "--no-progress", verbosity=0)
app = Application.objects.create(
    name="served", client_id="served", client_type="confidential",
    authorization_grant_type="client-credentials",
)
grant = lifecycle.create_grant(app, ["acc-sample-r1"], [{"type": "cds_current_accounts_details"}])
# Another process's failed authentications from 127.0.0.2: the server must count them.
for _ in range(2):
    throttling.failed_authentication.failed("127.0.0.2")
print("TOKEN", lifecycle.issue_token(grant)[0])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, port: int, token: str, log: Path) -> None:
        self.port, self.token, self.log = port, token, log

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, source: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(source, 0) if source else None
        )
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Any:
    """gunicorn with two workers on a free port, as `make serve` starts it: a migrated
    SQLite database, static files collected, DEBUG off, SSL redirect on behind a TLS proxy
    (X-Forwarded-Proto), JSON logs."""
    tmp = tmp_path_factory.mktemp("served")
    port = free_port()
    env = production_env(
        tmp,
        CDS_BIND=f"127.0.0.1:{port}",
        CDS_WORKERS="2",
        CDS_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO",
        CDS_THROTTLE_FAILED_AUTH_RATE="3/30d",  # 30-day windows: a run hardly ever straddles two
    )
    env.pop("CDS_REQUIRE_SECRET_KEY")  # the gunicorn config sets it
    # The two slow steps at once.
    steps = [
        subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in (("migrate", "--noinput", "-v0"), ("collectstatic", "--noinput", "-v0"))
    ]
    for step in steps:
        output, _ = step.communicate(timeout=120)
        assert step.returncode == 0, output
    setup = manage("shell", "-c", SETUP, env=env)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    token = re.search(r"^TOKEN (\S+)$", setup.stdout, re.M)[1]
    log = tmp / "gunicorn.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "cdsapi/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield Served(port, token, log)
    finally:
        server.terminate()
        server.wait(timeout=15)


HTTPS = {"X-Forwarded-Proto": "https"}


def same_headers(get: dict[str, str], head: dict[str, str]) -> None:
    drop = {"Date"}
    assert {k: v for k, v in get.items() if k not in drop} == {
        k: v for k, v in head.items() if k not in drop
    }


def test_head_through_gunicorn_has_the_headers_of_get_and_no_body(served) -> None:
    probe = {"Host": "10.1.2.3:8000"}  # plain HTTP, the pod's address: no redirect, no 400
    status, get_headers, body = served.call("GET", "/healthz", probe)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, head_headers, head_body = served.call("HEAD", "/healthz", probe)
    assert (status, head_body) == (200, b"")
    same_headers(get_headers, head_headers)
    assert served.call("GET", "/readyz", probe)[0] == 200

    api = {**HTTPS, "Authorization": f"Bearer {served.token}", "X-Request-ID": "same-id"}
    status, get_headers, body = served.call("GET", API + "accounts", api)
    assert status == 200, body
    assert json.loads(body)["accounts"]
    status, head_headers, head_body = served.call("HEAD", API + "accounts", api)
    assert (status, head_body) == (200, b"")
    same_headers(get_headers, head_headers)
    assert int(head_headers["Content-Length"]) == len(body)
    assert head_headers["X-Request-ID"] == "same-id"

    gzipped = {**api, "Accept-Encoding": "gzip"}
    status, headers, body = served.call("GET", API + "accounts", gzipped)
    assert headers["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(body))
    assert served.call("HEAD", API + "accounts", gzipped)[2] == b""

    status, headers, _ = served.call("OPTIONS", API + "accounts", HTTPS)
    assert (status, headers["Allow"]) == (204, "GET, HEAD, OPTIONS")


def test_https_redirect_and_host_validation_through_gunicorn(served) -> None:
    status, headers, _ = served.call("GET", API + "accounts")
    assert status == 301
    assert headers["Location"] == f"https://127.0.0.1:{served.port}{API}accounts"
    status, headers, _ = served.call("GET", API + "accounts", HTTPS)
    assert status == 401
    assert "includeSubDomains" in headers["Strict-Transport-Security"]
    assert served.call("GET", "/admin/login/", {**HTTPS, "Host": "10.1.2.3"})[0] == 400


def test_static_files_are_served_with_debug_off(served) -> None:
    status, _, page = served.call("GET", "/admin/login/", HTTPS)
    assert status == 200
    css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert css, page[:2000]
    status, headers, body = served.call("GET", css[1].decode(), HTTPS)
    assert status == 200 and b"body" in body
    assert headers["Content-Type"].startswith("text/css")
    assert "immutable" in headers["Cache-Control"]
    status, _, docs = served.call("GET", API + "docs", HTTPS)
    assert status == 200
    assets = re.findall(rb'"(/static/drf_spectacular_sidecar/[^"]+)"', docs)
    assert assets, docs[:2000]
    for asset in assets:
        assert served.call("GET", asset.decode(), HTTPS)[0] == 200, asset


def test_failed_authentications_are_counted_across_processes(served) -> None:
    # SETUP counted two failures from 127.0.0.2 in another process; the limit is 3.
    bad = {**HTTPS, "Authorization": "Bearer not-a-token"}
    assert served.call("GET", API + "accounts", bad, source="127.0.0.2")[0] == 401
    status, headers, body = served.call("GET", API + "accounts", bad, source="127.0.0.2")
    assert status == 429
    assert json.loads(body)["error"] == "slow_down"
    assert 0 < int(headers["Retry-After"]) <= 30 * 86400
    # A good token from another address is served.
    good = {**HTTPS, "Authorization": f"Bearer {served.token}"}
    assert served.call("GET", API + "accounts", good)[0] == 200


def test_gunicorn_logs_json_lines_without_tokens(served) -> None:
    served.call("GET", API + "accounts", {**HTTPS, "X-Request-ID": "logged-id"})
    time.sleep(0.2)
    text = served.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(line.get("logger") == "gunicorn.error" for line in lines)  # "Booting worker"
    requests = [line for line in lines if line.get("logger") == "cdsapi.request"]
    [logged] = [line for line in requests if line.get("request_id") == "logged-id"]
    assert (logged["method"], logged["path"], logged["status"]) == ("GET", API + "accounts", 401)
    assert not [line for line in requests if line["path"] in ("/healthz", "/readyz")]
    assert served.token not in text
    served.call("HEAD", API + "accounts", HTTPS)
    time.sleep(0.2)
    assert "no-body response" not in served.log.read_text()  # the body is never sent
    # A request line gunicorn cannot parse is logged without its query string.
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
        raw.sendall(
            b"GET /cds-customerdata-api/v1/accounts?access_token=SECRETTOK1&q=caf\xc3\xa9 "
            b"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        raw.recv(300)
    time.sleep(0.2)
    assert "SECRETTOK1" not in served.log.read_text()
