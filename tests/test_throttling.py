"""Rate limits (cdsapi.api.throttling): per OAuth client, and failed authentications per
address checked before the token is looked up; 429 with Retry-After and a JSON error; the
counts shared by every process (the access log's database, or Redis with CDS_CACHE_URL)."""

import base64
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.redis import RedisCache
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from accesslog.models import ThrottleCounter
from cdsapi.api import throttling
from cdsapi.api.throttling import (
    CacheCounter,
    DatabaseCounter,
    Rate,
    Window,
    client_ip,
    parse_rate,
)
from tests.factories import AccountFactory, AccountVersionFactory, ApplicationFactory

ROOT = Path(__file__).resolve().parent.parent
API = "/cds-customerdata-api/v1/"
ACCOUNTS = [{"type": "cds_current_accounts_details"}]
# 30 min 30.25 s into an hour: a minute's window has 29.75 s left (Retry-After: 30).
NOW = 1_900_000_000.0 + (-1_900_000_000 % 3600) + 1830.25
REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason="no Redis at 127.0.0.1:6379")


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, stopped at NOW (mid-window), movable."""
    now = [NOW]
    monkeypatch.setattr(throttling, "_now", lambda: now[0])
    return now


@pytest.fixture
def world(db):
    AccountVersionFactory(account=AccountFactory(cds_account_id="acc-t"))


def get(client, token: str | None, endpoint: str = "accounts", **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(API + endpoint, **headers, **extra)


def assert_429(response, retry_after: int) -> dict:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(retry_after)
    body = response.json()
    assert body["error"] == "slow_down" and body["error_description"]
    return body


# -- rates and windows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("1200/min", Rate(1200, 60)),
        ("60/m", Rate(60, 60)),
        ("10/s", Rate(10, 1)),
        ("5000/hour", Rate(5000, 3600)),
        ("100/5min", Rate(100, 300)),
        (" 7 / day ", Rate(7, 86400)),
        ("0", None),
        ("", None),
        ("0/min", None),
    ],
)
def test_rates_parse(text, rate) -> None:
    assert parse_rate(text) == rate


def test_the_settings_refuse_a_malformed_rate(monkeypatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from cdsapi.settings import env_rate

    monkeypatch.setenv("CDS_THROTTLE_CLIENT_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="CDS_THROTTLE_CLIENT_RATE"):
        env_rate("CDS_THROTTLE_CLIENT_RATE", "1200/min")
    monkeypatch.setenv("CDS_THROTTLE_CLIENT_RATE", "0")
    assert env_rate("CDS_THROTTLE_CLIENT_RATE", "1200/min") == ""


def test_windows_are_aligned_on_the_clock() -> None:
    window = Window.at(NOW, 60)
    assert window.start % 60 == 0 and window.end == window.start + 60
    assert window.start <= NOW < window.end
    assert window.retry_after(NOW) == 30  # 29.75 s left, rounded up
    assert window.retry_after(window.end - 0.001) == 1


# -- per client ----------------------------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_retry_after(
    world, client, token_for, settings, clock
) -> None:
    settings.CDS_THROTTLE_CLIENT_RATE = "3/min"
    app = ApplicationFactory()
    first, second = (
        token_for(["acc-t"], ACCOUNTS, client=app),
        token_for(["acc-t"], ACCOUNTS, client=app),
    )
    assert [get(client, first).status_code for _ in range(3)] == [200, 200, 200]
    # Counted per client, whichever of its tokens it uses.
    body = assert_429(get(client, second), retry_after=30)
    assert "client" in body["error_description"]
    assert client.head(API + "accounts", HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 429
    # Another client is not affected.
    assert get(client, token_for(["acc-t"], ACCOUNTS)).status_code == 200
    # The next window starts afresh.
    clock[0] += 30
    assert get(client, first).status_code == 200


def test_the_grants_api_is_limited_per_client_too(world, client, settings, clock) -> None:
    import base64

    settings.CDS_THROTTLE_CLIENT_RATE = "1/min"
    app = ApplicationFactory()
    basic = base64.b64encode(f"{app.client_id}:s3cret-s3cret-s3cret".encode()).decode()
    minted = client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "cds_client_admin"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert minted.status_code == 200, minted.content
    token = minted.json()["access_token"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/cds-api/v1/grants", **headers).status_code == 200
    assert_429(client.get("/cds-api/v1/grants", **headers), retry_after=30)


def test_a_rate_of_zero_turns_the_limit_off(world, client, token_for, settings) -> None:
    settings.CDS_THROTTLE_CLIENT_RATE = ""
    token = token_for(["acc-t"], ACCOUNTS)
    assert {get(client, token).status_code for _ in range(5)} == {200}
    assert not ThrottleCounter.objects.exists()


def test_a_served_request_costs_one_counter_statement(world, client, token_for) -> None:
    from django.db import connections

    from accesslog.router import access_log_database

    token = token_for(["acc-t"], ACCOUNTS)
    get(client, token)  # the token's client is loaded once, as before
    with CaptureQueriesContext(connections[access_log_database()]) as captured:
        assert get(client, token).status_code == 200
    counting = [q["sql"] for q in captured if "accesslog_throttlecounter" in q["sql"]]
    assert len(counting) == 1 and "ON CONFLICT" in counting[0]
    (row,) = ThrottleCounter.objects.all()
    assert row.count == 2 and row.key.startswith("client:")


# -- failed authentication per address -----------------------------------------------------------


def test_failed_authentications_from_one_address_are_refused_before_the_lookup(
    world, client, token_for, settings, clock
) -> None:
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "3/min"
    good = token_for(["acc-t"], ACCOUNTS)
    assert [get(client, f"wrong-{i}").status_code for i in range(3)] == [401, 401, 401]
    # A token that gives no access is one failure like another; the fourth is one too many.
    body = assert_429(get(client, "wrong-4"), retry_after=30)
    assert "invalid access token" in body["error_description"]
    # This process now refuses the address before any token is read, even a good one.
    with CaptureQueriesContext(connection) as captured:
        assert_429(get(client, good), retry_after=30)
        assert_429(get(client, None), retry_after=30)
    assert not [q for q in captured if "accesstoken" in q["sql"].lower()]
    # Another address is not affected.
    assert get(client, "wrong-5", REMOTE_ADDR="10.0.0.2").status_code == 401
    # Requests without a bearer token are not failures.
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "1/min"
    assert {get(client, None, REMOTE_ADDR="10.0.0.3").status_code for _ in range(3)} == {401}
    # When the window ends the address may try again.
    clock[0] += 30
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "3/min"
    assert get(client, good).status_code == 200


def test_the_shared_count_decides_for_a_process_that_has_not_seen_the_failures(
    world, client, token_for, settings, clock
) -> None:
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "2/min"
    good = token_for(["acc-t"], ACCOUNTS)
    assert [get(client, "wrong").status_code for _ in range(3)] == [401, 401, 429]
    # Another worker: it has noted nothing, only the shared counter knows.
    throttling.failed_authentication.forget()
    assert get(client, good).status_code == 200  # a good token is never counted or refused
    assert_429(get(client, "wrong"), retry_after=30)  # its first failure: over the limit
    assert_429(get(client, good), retry_after=30)  # and now it knows


def test_wrong_client_secrets_and_passwords_count_as_failed_authentications(
    db, client, settings, clock
) -> None:
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "2/min"
    app = ApplicationFactory()
    wrong = "Basic " + base64.b64encode(f"{app.client_id}:wrong".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": "cds_client_admin"}
    statuses = [
        client.post("/oauth/token", form, HTTP_AUTHORIZATION=wrong).status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    assert_429(client.post("/oauth/introspect", {"token": "x"}, HTTP_AUTHORIZATION=wrong), 30)
    # A customer's wrong password, from another address, the same way.
    get_user_model().objects.create_user("carol", password="right-password-1")
    tries = [
        client.post("/login", {"username": "carol", "password": "nope"}, REMOTE_ADDR="10.0.0.9")
        for _ in range(3)
    ]
    assert [t.status_code for t in tries] == [200, 200, 429]
    assert tries[-1]["Retry-After"] == "30"


def test_the_client_address_behind_a_proxy(settings, rf) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    assert client_ip(request) == "10.0.0.1"
    settings.CDS_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert client_ip(request) == "203.0.113.9"  # the address the proxy saw
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


# -- the counters --------------------------------------------------------------------------------


def test_the_database_counter_is_one_atomic_upsert(db) -> None:
    window = Window.at(NOW, 60)
    one, two = DatabaseCounter(), DatabaseCounter()
    assert [one.hit("k", window), two.hit("k", window), one.hit("k", window)] == [1, 2, 3]
    assert one.hit("other", window) == 1
    assert one.hit("k", Window.at(NOW + 60, 60)) == 1
    row = ThrottleCounter.objects.get(key="k", window_start=window.start)
    assert (row.count, row.window_end) == (3, window.end)


def test_an_unreachable_counter_lets_requests_through_and_says_so_once(
    world, client, token_for, settings, monkeypatch, caplog
) -> None:
    def unreachable(*args):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(DatabaseCounter, "hit", unreachable)
    monkeypatch.setattr(throttling, "_warned_at", 0.0)
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "1/min"
    token = token_for(["acc-t"], ACCOUNTS)
    assert [get(client, token).status_code for _ in range(3)] == [200, 200, 200]
    assert [get(client, "wrong").status_code for _ in range(3)] == [401, 401, 401]
    warnings = [r for r in caplog.records if r.name == "cdsapi.throttling"]
    assert len(warnings) == 1 and "disk I/O error" in warnings[0].getMessage()


def test_prune_deletes_the_windows_that_have_ended(db) -> None:
    import io
    import time

    now = int(time.time())
    ThrottleCounter.objects.create(key="old", window_start=now - 120, window_end=now - 60)
    ThrottleCounter.objects.create(key="new", window_start=now - 30, window_end=now + 30)
    out = io.StringIO()
    call_command("cds_prune_access_log", "--dry-run", stdout=out)
    assert "1 ended rate-limit windows would be deleted" in out.getvalue()
    call_command("cds_prune_access_log", stdout=out)
    assert "deleted 1 ended rate-limit windows" in out.getvalue()
    assert list(ThrottleCounter.objects.values_list("key", flat=True)) == ["new"]


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="cdsapi.settings",
        DEBUG="0",
        **extra,
    )
    return env


HIT = (
    "from cdsapi.api import throttling as t; "
    "print('count', t.count({key!r}, t.parse_rate('1000/30d'))[0])"
)


def hit_in_a_process(env: dict[str, str], key: str) -> int:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", HIT.format(key=key)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split("count")[-1])


def test_processes_share_the_database_counter(tmp_path) -> None:
    env = subprocess_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "accesslog", "--database", "accesslog", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    key = f"shared-{uuid.uuid4().hex}"
    assert [hit_in_a_process(env, key) for _ in range(2)] == [1, 2]


# -- Redis (CDS_CACHE_URL) -------------------------------------------------------------------


@pytest.fixture
def redis_prefix():
    prefix = f"cdsapi-test-{uuid.uuid4().hex}"
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def redis_cache(prefix: str) -> RedisCache:
    return RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})


@needs_redis
def test_redis_counters_are_shared_by_separate_clients_and_expire(redis_prefix) -> None:
    import redis

    window = Window.at(NOW, 60)
    one, two = CacheCounter(redis_cache(redis_prefix)), CacheCounter(redis_cache(redis_prefix))
    assert [one.hit("k", window), two.hit("k", window), one.hit("k", window)] == [1, 2, 3]
    assert one.hit("k", Window.at(NOW + 60, 60)) == 1
    name = one.cache.make_and_validate_key(f"throttle:k:{window.start}")
    assert redis.Redis.from_url(REDIS_URL).expiretime(name) == window.end + 1


@needs_redis
def test_processes_share_the_redis_counter(tmp_path, redis_prefix) -> None:
    env = subprocess_env(tmp_path, CDS_CACHE_URL=REDIS_URL, CDS_CACHE_PREFIX=redis_prefix)
    key = f"shared-{uuid.uuid4().hex}"
    assert hit_in_a_process(env, key) == 1
    # This process, through its own connection, sees the other's count.
    window = Window.at(throttling._now(), 30 * 86400)
    assert CacheCounter(redis_cache(redis_prefix)).hit(f"{key}:{30 * 86400}", window) == 2
    assert hit_in_a_process(env, key) == 3


@needs_redis
def test_the_api_counts_in_redis_when_cds_cache_url_is_set(
    world, client, token_for, settings, clock, redis_prefix
) -> None:
    settings.CDS_CACHE_URL = REDIS_URL
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": redis_prefix,
        }
    }
    settings.CDS_THROTTLE_CLIENT_RATE = "2/min"
    settings.CDS_THROTTLE_FAILED_AUTH_RATE = "1/min"
    token = token_for(["acc-t"], ACCOUNTS)
    assert [get(client, token).status_code for _ in range(2)] == [200, 200]
    assert_429(get(client, token), retry_after=30)
    assert [get(client, "wrong").status_code for _ in range(2)] == [401, 429]
    assert not ThrottleCounter.objects.exists()  # nothing in the database
