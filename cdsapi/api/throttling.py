"""Rate limits of the Customer Data and Grants APIs, counted where every worker sees them.

Two limits, both fixed windows aligned on the clock (a ``60/min`` window is a calendar
minute), both answered 429 with ``Retry-After`` (seconds to the window's end) and the API's
JSON error:

- **per client** (``CDS_THROTTLE_CLIENT_RATE``, default ``1200/min``): every authenticated
  request counts against its OAuth client (``client_id``), whichever of its tokens it uses;
  ``ClientRateThrottle``, a DRF throttle (so it runs after authentication).
- **failed authentication per IP address** (``CDS_THROTTLE_FAILED_AUTH_RATE``, default
  ``60/min``): a bearer token that is unknown, expired or revoked counts against the
  client's address; past the limit the address is refused before its token is looked up
  (``FailedAuthentication``, called by ``cdsapi.api.authentication``). Requests with a
  valid token are never counted here.

The counters are shared by all processes: with ``CDS_CACHE_URL`` (Redis, Django's
``RedisCache``) one ``INCR`` + ``EXPIREAT`` round trip; without it one atomic upsert
(``INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING``, SQLite 3.35+ and PostgreSQL) on the
``ThrottleCounter`` table in the access log's database. A successful request costs one
counter statement (its client's). If the counter cannot be reached the request is let
through (and that is logged, at most once a minute per process): rate limiting never takes
the API down.
"""

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connections
from redis.exceptions import RedisError

from accesslog.models import ThrottleCounter
from accesslog.router import access_log_database

logger = logging.getLogger("cdsapi.throttling")

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*", re.I)


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int


@lru_cache(maxsize=32)
def parse_rate(text: str) -> Rate | None:
    """``1200/min`` -> Rate(1200, 60); ``100/5min`` -> Rate(100, 300); empty or ``0`` -> None
    (no limit). The settings module has refused anything else already."""
    if text.strip() in {"", "0"}:
        return None
    match = RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a rate: {text!r}")
    limit, multiple, unit = int(match[1]), int(match[2] or 1), match[3][0].lower()
    return Rate(limit, multiple * UNITS[unit]) if limit > 0 and multiple > 0 else None


@dataclass(frozen=True)
class Window:
    start: int
    end: int

    @classmethod
    def at(cls, now: float, seconds: int) -> "Window":
        start = int(now // seconds) * seconds
        return cls(start, start + seconds)

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.end - now))


class Counter(Protocol):
    def hit(self, key: str, window: Window) -> int:
        """Count one more in ``key``'s ``window``; the count including this one."""


class DatabaseCounter:
    """Counts in ``accesslog.ThrottleCounter`` with one atomic upsert per hit, on the access
    log's connection (its own SQLite file, or a PostgreSQL connection of its own)."""

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias

    def hit(self, key: str, window: Window) -> int:
        connection = connections[self.alias or access_log_database()]
        quote = connection.ops.quote_name
        table = quote(ThrottleCounter._meta.db_table)
        key_, start, end, count = (quote(c) for c in ("key", "window_start", "window_end", "count"))
        sql = (
            f"INSERT INTO {table} ({key_}, {start}, {end}, {count}) VALUES (%s, %s, %s, 1) "
            f"ON CONFLICT ({key_}, {start}) DO UPDATE SET {count} = {table}.{count} + 1 "
            f"RETURNING {count}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key[:200], window.start, window.end])
            return int(cursor.fetchone()[0])


class CacheCounter:
    """Counts in a shared cache: on Redis one ``INCR`` + ``EXPIREAT`` transaction (one round
    trip); on another backend Django's ``add`` then ``incr``."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def hit(self, key: str, window: Window) -> int:
        raw = f"throttle:{key}:{window.start}"
        client = getattr(getattr(self.cache, "_cache", None), "get_client", None)
        if client is None:
            self.cache.add(raw, 0, timeout=window.end - window.start + 1)
            return int(self.cache.incr(raw))
        # Django's RedisCache stores integers as plain Redis integers, so INCR applies.
        name = self.cache.make_and_validate_key(raw)
        pipe = client(name, write=True).pipeline()
        pipe.incr(name)
        pipe.expireat(name, window.end + 1)
        return int(pipe.execute()[0])


def counter() -> Counter:
    """The shared counter the settings name: the cache with ``CDS_CACHE_URL``, else the
    database."""
    if settings.CDS_CACHE_URL:
        return CacheCounter(caches["default"])
    return DatabaseCounter()


_warned_at = 0.0


def _now() -> float:
    """The clock windows are cut by (one place, so that tests can move it)."""
    return time.time()


def count(key: str, rate: Rate, now: float | None = None) -> tuple[int, int]:
    """Count a hit on ``key`` under ``rate``: (count in the window, seconds to its end).
    If the counter fails, (0, ...): let the request through."""
    global _warned_at
    now = _now() if now is None else now
    window = Window.at(now, rate.seconds)
    try:
        return counter().hit(f"{key}:{rate.seconds}", window), window.retry_after(now)
    except (DatabaseError, RedisError, OSError) as exc:
        if now - _warned_at >= 60:
            _warned_at = now
            logger.warning("rate limits not counted (counter unavailable): %s", exc)
        return 0, window.retry_after(now)


class ClientRateThrottle:
    """A DRF throttle: ``CDS_THROTTLE_CLIENT_RATE`` requests per OAuth client. Runs after
    authentication and permissions, so it only ever counts requests with a valid token."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        rate = parse_rate(settings.CDS_THROTTLE_CLIENT_RATE)
        application = getattr(request.auth, "application", None)
        client_id = getattr(application, "client_id", "")
        if rate is None or not client_id:
            return True
        hits, self.retry_after = count(f"client:{client_id}", rate)
        return hits <= rate.limit

    def wait(self) -> int | None:
        return self.retry_after


def client_ip(request: Any) -> str:
    """The address rate limits count against: REMOTE_ADDR, or behind a reverse proxy the last
    address in the header ``CDS_CLIENT_IP_HEADER`` names (the one that proxy saw)."""
    meta = getattr(request, "META", {})
    if settings.CDS_CLIENT_IP_HEADER:
        forwarded = [a.strip() for a in meta.get(settings.CDS_CLIENT_IP_HEADER, "").split(",")]
        forwarded = [a for a in forwarded if a]
        if forwarded:
            return forwarded[-1][:64]
    return str(meta.get("REMOTE_ADDR", ""))[:64] or "unknown"


class FailedAuthentication:
    """``CDS_THROTTLE_FAILED_AUTH_RATE`` failed authentications per client address.

    The shared counter decides: each failure counts, and one past the limit is answered 429.
    Each process then notes the address as refused until the window ends, and refuses its
    requests before their token is looked up (``refused``: no statement at all); a process
    that has not seen the address fail yet looks the token up once more, counts that failure
    and learns the same answer. Successful requests are never counted here."""

    MAX_NOTED = 100_000

    def __init__(self) -> None:
        self.refused_until: dict[str, float] = {}
        self.lock = threading.Lock()

    def refused(self, ip: str, now: float | None = None) -> int | None:
        """Seconds this address is still refused for, as this process last learnt."""
        until = self.refused_until.get(ip)
        if until is None:
            return None
        now = _now() if now is None else now
        if until > now:
            return max(1, math.ceil(until - now))
        with self.lock:
            self.refused_until.pop(ip, None)
        return None

    def failed(self, ip: str, now: float | None = None) -> int | None:
        """Count a failed authentication from ``ip``; the seconds to refuse it for when that
        was one too many, else None."""
        rate = parse_rate(settings.CDS_THROTTLE_FAILED_AUTH_RATE)
        if rate is None:
            return None
        now = _now() if now is None else now
        hits, retry_after = count(f"failed-auth:{ip}", rate, now)
        if hits <= rate.limit:
            return None
        with self.lock:
            if len(self.refused_until) >= self.MAX_NOTED:
                expired = [a for a, t in self.refused_until.items() if t <= now]
                for address in expired:
                    del self.refused_until[address]
            if len(self.refused_until) < self.MAX_NOTED:
                # Until the window ends, not a rounded-up Retry-After past it.
                self.refused_until[ip] = Window.at(now, rate.seconds).end
        return retry_after

    def forget(self) -> None:
        """Drop what this process noted (tests)."""
        with self.lock:
            self.refused_until.clear()


failed_authentication = FailedAuthentication()


def limit_failures(
    request: Any,
    answer: Callable[[], Any],
    failed: Callable[[Any], bool],
    too_many: Callable[[int], Any],
) -> Any:
    """``answer()``, with what it tells as a failed authentication (``failed(response)``: a
    wrong client secret, a wrong password) counted against the address like a bad bearer
    token; past the limit, ``too_many(seconds)`` instead, before anything is checked."""
    ip = client_ip(request)
    wait = failed_authentication.refused(ip)
    if wait is not None:
        return too_many(wait)
    response = answer()
    if failed(response):
        wait = failed_authentication.failed(ip)
        if wait is not None:
            return too_many(wait)
    return response
