"""A resource server run apart from its authorization server: bearer tokens are checked by
RFC 7662 introspection at ``CDS_AUTHORIZATION_SERVER_URL`` instead of in the token table.

The two halves share one database for customer data and Grant rows, but the resource
server never reads or trusts an ``AccessToken`` row: what the authorization server says of a
token (its scopes, client, expiry and grant) is bound in memory to the Grant row it names,
so the policy code serves it exactly as it serves a local token. That grant is also checked
active here on every request, so revoking, closing or narrowing it takes effect at once; what
only the authorization server knows (a token revoked at ``/oauth/revoke_token``) reaches the
resource server when its cached answer runs out, after ``CDS_INTROSPECTION_CACHE_SECONDS``
at most.
"""

import base64
import hashlib
import http.client
import json
import logging
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.cache import cache

from cdsapi.api.exceptions import TemporarilyUnavailable
from cdsapi.grants.oauth import why_inactive
from cdsapi.models import AccessToken, Grant

logger = logging.getLogger("cdsapi.remote")

# The authorization server's endpoint, as its metadata advertises it (introspection_endpoint).
INTROSPECTION_PATH = "/oauth/introspect"
TIMEOUT_SECONDS = 5
MAX_ANSWER_BYTES = 1 << 20
CACHE_PREFIX = "cds-introspection:"
UNKNOWN = "the access token is unknown, expired or revoked"


class AuthorizationServerUnavailable(TemporarilyUnavailable):
    """The authorization server gave no usable answer: unreachable, too slow, an error status
    (our introspection credentials refused among them) or a malformed body. The API answers
    503 ``temporarily_unavailable`` with ``Retry-After``, as for a database outage."""


class InactiveToken(Exception):
    """The token gives no access (HTTP 401 ``invalid_token``); the message says why."""


@dataclass(frozen=True)
class Introspection:
    """What the resource server keeps of an active introspection answer."""

    scopes: tuple[str, ...]
    client_id: str
    grant_id: str
    exp: int


def enabled() -> bool:
    """Whether tokens are introspected remotely (otherwise the local table is the truth)."""
    return bool(settings.CDS_AUTHORIZATION_SERVER_URL)


def _now() -> float:
    """The clock cached answers are judged by (one place, so that tests can move it)."""
    return time.time()


def _ask(token: str) -> dict[str, Any]:
    """The authorization server's JSON answer about ``token``, asked as the confidential
    client the resource server is registered as (HTTP Basic, RFC 6749 §2.3.1 encoding)."""
    url = settings.CDS_AUTHORIZATION_SERVER_URL.rstrip("/") + INTROSPECTION_PATH
    credentials = ":".join(
        quote(value, safe="")
        for value in (
            settings.CDS_INTROSPECTION_CLIENT_ID,
            settings.CDS_INTROSPECTION_CLIENT_SECRET,
        )
    )
    request = urllib.request.Request(
        url,
        data=urlencode({"token": token}).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode("utf-8")).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
            body = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            logger.error(
                "introspection at %s refused client %r: check CDS_INTROSPECTION_CLIENT_ID "
                "and CDS_INTROSPECTION_CLIENT_SECRET",
                url,
                settings.CDS_INTROSPECTION_CLIENT_ID,
            )
        else:
            logger.warning("introspection at %s answered HTTP %s", url, exc.code)
        raise AuthorizationServerUnavailable(f"introspection answered HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        logger.warning("introspection at %s failed: %s", url, reason)
        raise AuthorizationServerUnavailable(f"introspection failed: {reason}") from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
        logger.warning("introspection at %s gave no RFC 7662 answer (HTTP %s)", url, status)
        raise AuthorizationServerUnavailable("introspection gave no RFC 7662 answer")
    return answer


def _kept(answer: dict[str, Any]) -> Introspection | None:
    """The parts of an answer this server acts on; None for an inactive token. An active
    answer without them cannot be bound to a grant, which is the authorization server's
    fault, not the caller's: it counts as no answer."""
    if answer["active"] is not True:
        return None
    scope, client_id, exp = answer.get("scope"), answer.get("client_id"), answer.get("exp")
    grant_ids = answer.get("cds_grant_ids")
    if (
        not isinstance(scope, str)
        or not isinstance(client_id, str)
        or not isinstance(exp, int)
        or isinstance(exp, bool)
        or not isinstance(grant_ids, list)
        or not grant_ids
        or not isinstance(grant_ids[0], str)
    ):
        logger.warning("introspection answered active without scope, client_id, exp or grant")
        raise AuthorizationServerUnavailable("introspection answer lacks what binds the token")
    return Introspection(tuple(scope.split()), client_id, grant_ids[0], exp)


def introspect(token: str) -> Introspection | None:
    """The authorization server's view of ``token`` (None: inactive), cached under the
    token's sha256 for ``CDS_INTROSPECTION_CACHE_SECONDS`` but never past the token's
    ``exp``. Inactive answers are cached too, so a flood of bad tokens costs the
    authorization server one request each, not one per retry."""
    key = CACHE_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()
    now = _now()
    cached = cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    found = _kept(_ask(token))
    until = now + max(0, settings.CDS_INTROSPECTION_CACHE_SECONDS)
    if found is not None:
        until = min(until, found.exp)
    if until > now:
        cache.set(key, (until, found), timeout=math.ceil(until - now))
    return found


def access_token(token: str) -> AccessToken:
    """An unsaved ``AccessToken`` for ``token``, bound to the Grant row the authorization
    server names, with only the scopes it returned (and the grant still holds), so that the
    API's policy serves it as it would a local token.

    Raises ``InactiveToken`` for a token that gives no access, and
    ``AuthorizationServerUnavailable`` when the authorization server cannot say."""
    found = introspect(token)
    if found is None or found.exp <= _now():
        raise InactiveToken(UNKNOWN)
    grant = Grant.objects.select_related("client", "administers").filter(pk=found.grant_id).first()
    if grant is None or grant.client.client_id != found.client_id:
        logger.warning("introspection named grant %r of another client or none", found.grant_id)
        raise InactiveToken(UNKNOWN)
    if not grant.is_active():
        raise InactiveToken(why_inactive(grant))
    scopes = [s for s in found.scopes if s in grant.scopes]
    if not scopes:
        raise InactiveToken("the token's grant no longer holds any of its scopes")
    return AccessToken(
        application=grant.client,
        user=None,
        cds_grant=grant,
        scope=" ".join(scopes),
        expires=datetime.fromtimestamp(found.exp, tz=UTC),
        token_checksum=hashlib.sha256(token.encode("utf-8")).hexdigest(),
    )
