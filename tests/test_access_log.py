"""The access log: one row per Customer Data API request, no tokens in it, a request id echoed
in ``X-Request-ID``, a read-only admin with a streamed CSV export, and pruning."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from accesslog.models import AccessLogEntry
from accesslog.router import access_log_database
from cdsapi.grants import lifecycle
from cdsapi.models import Grant
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory

pytestmark = pytest.mark.django_db(databases=["default", "accesslog"])
ACCOUNTS = [{"type": "cds_current_accounts_details"}]
BILLS = [{"type": "cds_bill_statements"}]
SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@pytest.fixture
def world(db):
    for ident in ("acc-a", "acc-b", "acc-c"):
        AccountVersionFactory(account=AccountFactory(cds_account_id=ident))


@pytest.fixture
def client_app(db):
    return ApplicationFactory(client_id="client-one")


def only_row() -> AccessLogEntry:
    rows = list(AccessLogEntry.objects.all())
    assert len(rows) == 1, rows
    return rows[0]


def test_a_served_page_is_logged_with_its_fields(world, api, token_for, client_app) -> None:
    token = token_for(["acc-a", "acc-b"], ACCOUNTS, client=client_app)
    before = timezone.now()
    response = api.get("accounts", token, limit=1)
    assert response.status_code == 200
    row = only_row()
    assert before <= row.time <= timezone.now()
    assert row.client_id == "client-one"
    assert row.grant_id == Grant.objects.get().pk
    assert (row.method, row.endpoint, row.query) == ("GET", "accounts", "limit=1")
    assert (row.status, row.rows) == (200, 1)
    assert row.accounts == "acc-a acc-b"  # the grant's selected accounts
    assert 0 <= row.duration_ms < 60_000
    assert response["X-Request-ID"] == row.request_id and len(row.request_id) == 32


def test_an_empty_page_logs_zero_rows(world, api, token_for) -> None:
    token = token_for(["acc-a"], ACCOUNTS)
    assert api.get("accounts", token, cds_account_ids="acc-c").status_code == 200
    assert (only_row().status, only_row().rows) == (200, 0)


def test_no_token_is_logged_as_401_without_client(db, api) -> None:
    response = api.get("bill-statements", None, after="2025-01-01")
    assert response.status_code == 401
    row = only_row()
    assert (row.status, row.rows, row.client_id, row.grant_id, row.accounts) == (
        401,
        0,
        "",
        "",
        "",
    )
    assert (row.endpoint, row.query) == ("bill-statements", "after=2025-01-01")
    assert response["X-Request-ID"] == row.request_id


def test_an_unknown_token_is_never_logged(db, api) -> None:
    response = api.get("accounts", "not-a-real-token-but-secret")
    assert response.status_code == 401
    row = only_row()
    stored = " ".join(str(getattr(row, f.attname)) for f in AccessLogEntry._meta.fields)
    assert "secret" not in stored


def test_a_grant_that_does_not_reach_the_endpoint_is_logged_as_403(
    world, api, token_for, client_app
) -> None:
    token = token_for(["acc-a"], BILLS, client=client_app)
    assert api.get("accounts", token).status_code == 403
    row = only_row()
    assert (row.status, row.rows, row.accounts) == (403, 0, "")
    assert row.client_id == "client-one" and row.grant_id == Grant.objects.get().pk


def test_a_token_of_a_revoked_grant_is_logged_with_its_client_and_grant(
    world, api, token_for, client_app
) -> None:
    token = token_for(["acc-a"], ACCOUNTS, client=client_app)
    grant = Grant.objects.get()
    lifecycle.revoke_grant(grant)
    assert api.get("accounts", token).status_code == 401
    row = only_row()
    assert (row.status, row.client_id, row.grant_id, row.accounts) == (
        401,
        "client-one",
        grant.pk,
        "",
    )


def test_a_bad_parameter_is_logged_as_400(world, api, token_for) -> None:
    token = token_for(["acc-a"], ACCOUNTS)
    assert api.get("accounts", token, nonsense="1").status_code == 400
    row = only_row()
    # A parameter the endpoint does not take is counted, never stored: it may be a token.
    assert (row.status, row.rows, row.query) == (400, 0, "[1 other parameter(s) not logged]")
    assert row.grant_id == Grant.objects.get().pk


@pytest.mark.parametrize(
    "name",
    [
        "access_token",
        "access%5Ftoken",
        "access_token%20",
        "ACCESS_TOKEN",
        "access_token[]",
        "token",
        "client_secret",
        "access_tok%D0%B5n",  # a Cyrillic e
        "api_key",
        "bearer",
    ],
)
@pytest.mark.parametrize("separator", ["&", ";"])
def test_a_token_in_the_query_string_is_not_stored(world, api, token_for, name, separator) -> None:
    token = token_for(["acc-a"], ACCOUNTS)
    response = api.client.get(
        f"/cds-customerdata-api/v1/accounts?limit=5{separator}{name}={token}&q=x",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    row = only_row()
    assert row.query == "limit=5&q=x&[1 other parameter(s) not logged]"
    assert token not in row.query


def test_an_encrypted_response_is_logged_and_carries_the_request_id(world, api, make_grant) -> None:
    import json

    from jwcrypto import jwk as jwcrypto_jwk

    public = {**json.loads(jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256").export_public())}
    grant = make_grant(["acc-a"], [{"type": "cds_accounts_1", "jwk": {**public, "use": "enc"}}])
    token = lifecycle.issue_token(grant)[0]
    response = api.client.get(
        "/cds-customerdata-api/v1/accounts",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_REQUEST_ID="abc-123",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jose")
    assert response["X-Request-ID"] == "abc-123"
    assert (only_row().request_id, only_row().rows) == ("abc-123", 1)


@pytest.mark.parametrize("given", ["x" * 129, "has space", "semi;colon", ""])
def test_an_unusable_request_id_is_replaced(db, api, given) -> None:
    response = api.client.get("/cds-customerdata-api/v1/accounts", HTTP_X_REQUEST_ID=given)
    ident = response["X-Request-ID"]
    assert ident != given and len(ident) == 32
    assert only_row().request_id == ident


def test_each_request_gets_its_own_id(db, api) -> None:
    first = api.get("accounts", None)["X-Request-ID"]
    second = api.get("accounts", None)["X-Request-ID"]
    assert first != second
    assert AccessLogEntry.objects.count() == 2


def test_the_grants_api_and_other_pages_are_not_logged(db, client) -> None:
    client.get("/cds-api/v1/grants")
    client.get("/healthz")
    assert AccessLogEntry.objects.count() == 0


def test_one_insert_per_request_on_the_log_database(world, api, token_for) -> None:
    from django.test.utils import CaptureQueriesContext

    token = token_for(["acc-a"], ACCOUNTS)
    alias = access_log_database()
    with CaptureQueriesContext(connections[alias]) as captured:
        api.get("accounts", token)
    writes = [q["sql"] for q in captured if "accesslog_accesslogentry" in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("INSERT")


def test_the_log_write_goes_to_the_accesslog_database(world, api, token_for) -> None:
    # In tests "accesslog" is a database apart on both engines (on PostgreSQL it is the main
    # database in production, through its own connection).
    assert access_log_database() == "accesslog"
    token = token_for(["acc-a"], ACCOUNTS)
    api.get("accounts", token)
    with connections["accesslog"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accesslog_accesslogentry")
        assert cursor.fetchone()[0] == 1
    assert "accesslog_accesslogentry" not in connections["default"].introspection.table_names()
    assert "accounts_account" not in connections["accesslog"].introspection.table_names()


def test_the_settings_give_the_log_its_own_sqlite_file_or_the_same_postgresql_database() -> None:
    # The test runner swaps in test database names; the settings module's own computation is
    # what a deployment gets.
    import importlib

    from cdsapi import settings as project_settings

    fresh = importlib.reload(project_settings)
    main, log = fresh.DATABASES["default"], fresh.DATABASES["accesslog"]
    if SQLITE:
        assert log["NAME"] != main["NAME"]
        assert log["NAME"].endswith("-accesslog.sqlite3")
        assert Path(log["NAME"]).parent == Path(main["NAME"]).parent
        assert "journal_mode=WAL" in log["OPTIONS"]["init_command"]
    else:
        for key in ("ENGINE", "NAME", "HOST", "PORT", "USER"):
            assert log[key] == main[key]
    assert fresh.DATABASE_ROUTERS == ["accesslog.router.AccessLogRouter"]


# The admin


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def entry(**fields) -> AccessLogEntry:
    values = {
        "time": timezone.now(),
        "client_id": "client-one",
        "grant_id": "g1",
        "method": "GET",
        "endpoint": "accounts",
        "query": "",
        "status": 200,
        "rows": 3,
        "duration_ms": 1.5,
        "request_id": "r1",
        "accounts": "acc-a",
    }
    return AccessLogEntry.objects.create(**{**values, **fields})


def test_the_admin_lists_filters_and_searches(admin_client) -> None:
    entry(request_id="req-ok")
    entry(request_id="req-denied", status=403, client_id="client-two", grant_id="g2")
    url = reverse("admin:accesslog_accesslogentry_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"req-ok" in page.content and b"req-denied" in page.content
    assert b"Export these rows as CSV" in page.content
    filtered = admin_client.get(url, {"status": "403"})
    assert b"req-denied" in filtered.content and b"req-ok" not in filtered.content
    by_client = admin_client.get(url, {"client_id": "client-one"})
    assert b"req-ok" in by_client.content and b"req-denied" not in by_client.content
    found = admin_client.get(url, {"q": "g2"})
    assert b"req-denied" in found.content and b"req-ok" not in found.content
    found = admin_client.get(url, {"q": "req-ok"})
    assert b"req-ok" in found.content and b"req-denied" not in found.content


def test_the_admin_is_read_only(admin_client) -> None:
    row = entry()
    assert admin_client.get(reverse("admin:accesslog_accesslogentry_add")).status_code == 403
    change = reverse("admin:accesslog_accesslogentry_change", args=[row.pk])
    assert admin_client.post(change, {"status": 500}).status_code == 403
    delete = reverse("admin:accesslog_accesslogentry_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AccessLogEntry.objects.get().status == 200


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_streams_the_filtered_rows_as_csv(admin_client) -> None:
    entry(request_id="req-ok", query="limit=2&q=a,b")
    entry(request_id="req-denied", status=403)
    url = reverse("admin:accesslog_accesslogentry_export")
    rows = read_csv(admin_client.get(url, {"status": "200"}))
    assert rows[0][:3] == ["time", "client_id", "grant_id"]
    assert len(rows) == 2
    assert rows[1][rows[0].index("request_id")] == "req-ok"
    assert rows[1][rows[0].index("query")] == "limit=2&q=a,b"
    assert len(read_csv(admin_client.get(url))) == 3


def test_the_export_action_streams_the_selected_rows(admin_client) -> None:
    kept, _ = entry(request_id="req-1"), entry(request_id="req-2")
    response = admin_client.post(
        reverse("admin:accesslog_accesslogentry_changelist"),
        {"action": "export_csv", "_selected_action": [kept.pk]},
    )
    rows = read_csv(response)
    assert [r[rows[0].index("request_id")] for r in rows[1:]] == ["req-1"]


def test_the_export_needs_a_staff_login(client) -> None:
    response = client.get(reverse("admin:accesslog_accesslogentry_export"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# Pruning


def aged(days: float, request_id: str) -> None:
    entry(time=timezone.now() - timedelta(days=days), request_id=request_id)


def run_prune(*args: str) -> str:
    out = io.StringIO()
    call_command("cds_prune_access_log", *args, stdout=out)
    return out.getvalue()


def test_prune_deletes_rows_older_than_the_retention_in_batches(settings) -> None:
    settings.CDS_ACCESS_LOG_DAYS = 30
    for n in range(5):
        aged(40 + n, f"old-{n}")
    aged(10, "recent")
    output = run_prune("--batch-size", "2")
    assert "deleted 5 access log rows older than 30 days" in output
    assert list(AccessLogEntry.objects.values_list("request_id", flat=True)) == ["recent"]


def test_prune_days_override_and_dry_run() -> None:
    aged(400, "older-than-default")
    aged(20, "month-ish")
    aged(1, "yesterday")
    assert "2 access log rows older than 7 days" in run_prune("--days", "7", "--dry-run")
    assert AccessLogEntry.objects.count() == 3
    assert "deleted 1 access log rows older than 365 days" in run_prune()
    assert "deleted 1 access log rows older than 7 days" in run_prune("--days", "7")
    assert list(AccessLogEntry.objects.values_list("request_id", flat=True)) == ["yesterday"]


def test_prune_refuses_a_negative_retention() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        run_prune("--days", "-1")


def _failing_log_rows(message: str):
    """An execute wrapper under which writing an access log row fails with ``message``."""
    from django.db import OperationalError

    def wrapper(execute, sql, params, many, context):
        if "accesslog_accesslogentry" in sql and sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError(message)
        return execute(sql, params, many, context)

    return wrapper


def test_a_failed_log_write_still_answers_the_request(world, api, token_for, caplog) -> None:

    token = token_for(["acc-a"], ACCOUNTS)
    with connections[AccessLogEntry.objects.db].execute_wrapper(_failing_log_rows("disk full")):
        response = api.get("accounts", token)
    assert response.status_code == 200 and response["X-Request-ID"]
    assert "not written: disk full" in caplog.text
    assert token not in caplog.text


def test_a_log_write_lost_in_an_outage_adds_no_second_warning(world, api, token_for, caplog):

    from django.db import OperationalError

    token = token_for(["acc-a"], ACCOUNTS)

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    with (
        connections["default"].execute_wrapper(unreachable),
        connections[AccessLogEntry.objects.db].execute_wrapper(
            _failing_log_rows("could not connect to server")
        ),
    ):
        caplog.clear()
        assert api.get("accounts", token).status_code == 503
    assert len([r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]) == 1
    assert "not written" in caplog.text
