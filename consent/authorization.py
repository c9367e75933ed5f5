"""Reading an authorization request (RFC 6749 §4.1.1 + RFC 7636 + RFC 9396 + RFC 9126).

Checked in two passes (CDS-WG3-01 §9.1.1): ``read`` before anyone logs in, ``check_customer``
once the customer is known. What may not be trusted to redirect (an unknown client, a
redirect URI it did not register, a response type other than ``code``, a pushed request that
is unknown or expired) raises ``PageError``, shown as a page; anything else raises
``RedirectError``, sent back to the client's redirect URI with ``state``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from cdsapi.grants import details as ad
from cdsapi.grants.lifecycle import detail_expiry
from cdsapi.grants.scopes import INFINITE, registry
from cdsapi.grants.upstream import SELECTION_TYPES
from cdsapi.models import Application, DirectAccess, Grant
from cdsapi.text import has_invisible_characters, strings_in
from consent.models import PushedRequest

# The parameters an authorization request may carry; anything else is ignored (RFC 6749 §3.1).
PARAMETERS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "authorization_details",
    "cds_grant_id",
    "prompt",
)
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# RFC 7636 §4.2: BASE64URL of a SHA-256 digest is 43 characters; 43..128 unreserved ones.
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class PageError(Exception):
    """Shown to the person as the Invalid Request Error page; never redirected."""


class RedirectError(Exception):
    """Sent back to the client's redirect URI as ``error`` and ``error_description``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.location = ""  # set once the redirect URI is known


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request that passed every check that needs no customer."""

    client: Application
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    raw_details: tuple[dict[str, Any], ...]
    details: tuple[dict[str, Any], ...]
    selection_type: str
    code_challenge: str
    prompts: frozenset[str]
    grant: Grant | None
    pushed: PushedRequest | None

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    def location(self, error: str, description: str) -> str:
        return redirect_with(
            self.redirect_uri, error=error, error_description=description, state=self.state
        )

    def oauth_params(self) -> dict[str, str]:
        """What oauthlib checks and turns into a code (it knows nothing of the rest)."""
        params = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.state is not None:
            params["state"] = self.state
        return params

    @property
    def allows_modifications(self) -> bool:
        return all(e.get("allow_scope_modifications") for e in self.raw_details)

    def uses_default_redirect(self) -> bool:
        return self.redirect_uri == self.client.default_redirect_uri


def redirect_with(uri: str, **params: str | None) -> str:
    """An authorization response to ``uri``: ``params`` and, as every authorization response
    here carries it, ``iss`` (RFC 9207: a client talking to several servers can tell which
    one answered)."""
    params["iss"] = settings.CDS_ISSUER
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name) or []
    if len(values) > 1:
        raise PageError(f"{name}: given more than once")
    value = values[0] if values else None
    if value is not None and has_invisible_characters(value):
        # Bidirectional and invisible formatting characters could make what the consent
        # page shows read differently from what is asked.
        raise PageError(f"{name}: control or invisible formatting characters are not allowed")
    return value


def _params(
    query: Mapping[str, list[str]], now: datetime | None = None
) -> tuple[dict[str, str], PushedRequest | None]:
    """The request's parameters, from the query or from the pushed request it names (RFC
    9126 §4: then only the pushed ones count), and that pushed request."""
    params = {name: v for name in PARAMETERS if (v := _single(query, name)) is not None}
    request_uri = _single(query, "request_uri")
    if request_uri is None:
        return params, None
    pushed = PushedRequest.objects.filter(request_uri=request_uri).first()
    if pushed is None or not pushed.is_live(now):
        raise PageError(
            "request_uri: unknown, expired or already used; the application must push the "
            "request again"
        )
    if params.get("client_id") != pushed.client.client_id:
        raise PageError("client_id: does not match the pushed request")
    return {**pushed.params, "client_id": pushed.client.client_id}, pushed


def read(query: Mapping[str, list[str]], now: datetime | None = None) -> AuthorizationRequest:
    """Every check an authorization request can pass before the customer logs in."""
    now = now or timezone.now()
    params, pushed = _params(query, now)
    client = _client(params.get("client_id"))
    redirect_uri = _redirect_uri(client, params.get("redirect_uri"))
    if params.get("response_type") != "code":
        raise PageError("response_type: must be code")
    state = params.get("state")
    try:
        return _checked(params, client, redirect_uri, pushed, now)
    except RedirectError as exc:
        exc.location = redirect_with(
            redirect_uri, error=exc.error, error_description=exc.description, state=state
        )
        raise


def _checked(
    params: dict[str, str],
    client: Application,
    redirect_uri: str,
    pushed: PushedRequest | None,
    now: datetime,
) -> AuthorizationRequest:
    """The checks whose failures go back to the (now trusted) redirect URI."""
    challenge = params.get("code_challenge")
    if not challenge:
        raise RedirectError(
            "invalid_request", "code_challenge: is missing (PKCE with S256 is required)"
        )
    if params.get("code_challenge_method") != "S256":
        raise RedirectError("invalid_request", "code_challenge_method: must be S256")
    if not _CHALLENGE.match(challenge):
        raise RedirectError(
            "invalid_request", "code_challenge: expected 43 to 128 URL-safe characters"
        )
    prompts = frozenset((params.get("prompt") or "").split())
    if prompts - PROMPTS:
        raise RedirectError(
            "invalid_request", f"prompt: expected some of {', '.join(sorted(PROMPTS))}"
        )
    if "none" in prompts:
        raise RedirectError(
            "consent_required", "prompt=none: the customer must approve on this server"
        )
    raw = params.get("authorization_details")
    if raw is None and client.cds_default_authorization_details is not None:
        raw = client.cds_default_authorization_details
    try:
        entries = None if raw is None else ad.parse(raw)
        if any(has_invisible_characters(s) for s in strings_in(entries)):
            raise ad.InvalidAuthorizationDetails(
                "authorization_details",
                "control or invisible formatting characters are not allowed (escaped or not)",
            )
        scope = params.get("scope") or client.cds_default_scope
        scopes = _scopes(scope or " ".join(ad.default_scope(entries or [])), client)
        entries = [{"type": s} for s in scopes] if entries is None else entries
        resolved = ad.resolve(entries, scopes, now=now)
    except ad.InvalidAuthorizationDetails as exc:
        raise RedirectError("invalid_authorization_details", str(exc)) from None
    for n, entry in enumerate(resolved):
        if entry.get("expires") not in (None, INFINITE) and detail_expiry([entry]) <= now:
            raise RedirectError(
                "invalid_authorization_details",
                f"authorization_details[{n}].expires: must be in the future",
            )
    selection_type = _selection_type(resolved)
    grant = _grant(client, params.get("cds_grant_id"))
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=params.get("state"),
        scopes=tuple(scopes),
        raw_details=tuple(entries),
        details=tuple(resolved),
        selection_type=selection_type,
        code_challenge=challenge,
        prompts=prompts,
        grant=grant,
        pushed=pushed,
    )


def _client(client_id: str | None) -> Application:
    if not client_id:
        raise PageError("client_id: is missing")
    client = Application.objects.filter(client_id=client_id).first()
    if client is None:
        raise PageError("client_id: no such application is registered here")
    if client.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE:
        raise PageError("client_id: this application is not registered for customer consent")
    if DirectAccess.objects.filter(client=client).exists():
        raise PageError("client_id: this application has direct access and takes no consent")
    return client


def _redirect_uri(client: Application, redirect_uri: str | None) -> str:
    default = client.default_redirect_uri
    if redirect_uri is None or redirect_uri == default:
        return default
    if redirect_uri not in client.redirect_uris.split():
        raise PageError("redirect_uri: not registered for this application")
    return redirect_uri


def _scopes(scope: str | None, client: Application) -> list[str]:
    scopes = list(dict.fromkeys((scope or "").split()))
    if not scopes:
        raise RedirectError("invalid_scope", "scope: is missing and the client has no default")
    known = registry()
    for scope_id in scopes:
        if scope_id not in known:
            raise RedirectError("invalid_scope", f"scope: unknown scope {scope_id[:60]!r}")
        if not known[scope_id].by_consent:
            raise RedirectError(
                "invalid_scope", f"scope: {scope_id} is not granted by customer consent"
            )
    refused = client.not_enabled(scopes)
    if refused:
        raise RedirectError(
            "invalid_scope", f"scope: {refused[0]} is not enabled for this application"
        )
    return scopes


def _selection_type(entries: list[dict[str, Any]]) -> str:
    """One selection for the request: this server records one per grant, so every entry
    must use the same selection type (their selections are merged, WG3 §7.4.2)."""
    types = {e.get("authorization_form_selection_type") or SELECTION_TYPES[0] for e in entries}
    if len(types) > 1:
        raise RedirectError(
            "invalid_authorization_details",
            "authorization_form_selection_type: every entry of one request must use the same "
            f"selection type here (got {', '.join(sorted(types))})",
        )
    (found,) = types
    if found not in SELECTION_TYPES:
        raise RedirectError(
            "invalid_authorization_details",
            f"authorization_form_selection_type: {found} is not offered here",
        )
    return found


def _grant(client: Application, grant_id: str | None) -> Grant | None:
    """A grant to authorize again (WG1-02 §8.3), checked before login: it must be this
    client's own consent grant and not ended for good."""
    if not grant_id:
        return None
    grant = Grant.objects.filter(pk=grant_id, client=client, administers=None).first()
    if (
        grant is None
        or grant.status in Grant.FINAL
        or ad.family_of(grant.authorization_details) != "consent"
    ):
        raise RedirectError(
            "cds_grant_id_invalid_value", "cds_grant_id: not a consent grant of this client"
        )
    return grant


def check_customer(request: AuthorizationRequest, user: Any) -> None:
    """The checks that need the customer: a grant authorized again must be theirs."""
    if request.grant is not None and request.grant.customer_id != user.pk:
        raise RedirectError(
            "cds_grant_id_invalid_user", "cds_grant_id: the grant was authorized by someone else"
        )
