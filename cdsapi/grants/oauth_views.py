"""django-oauth-toolkit's token and revocation endpoints, refusing what they would mishandle.

DOT's views take the last of a repeated parameter, pass NUL bytes on to the database, turn an
empty ``scope`` into ``invalid_scope``, and answer other methods or a database outage with
empty HTML, and would check a user's password for a grant type this server does not offer.
These subclasses check the request first and answer every refusal in JSON; the OAuth logic
itself stays DOT's (and our validator's).
"""

import base64
import binascii
import logging
import re
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ObjectDoesNotExist, SuspiciousOperation
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views

from cdsapi.api.exceptions import RETRY_AFTER_SECONDS, UNSTORABLE, unreadable
from cdsapi.api.throttling import limit_failures
from cdsapi.grants.oauth import introspect
from cdsapi.models import Application
from cdsapi.text import has_control_characters

logger = logging.getLogger("cdsapi.oauth")


def oauth_error(status: int, error: str, description: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    response["Cache-Control"] = "no-store"
    return response


def too_many_failures(seconds: int) -> JsonResponse:
    return oauth_error(
        429,
        "slow_down",
        "too many failed authentications from this address",
        Retry_After=str(seconds),
    )


# A "%" not followed by two hex digits (oauthlib would raise on it, deep inside).
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def basic_credentials(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


class GuardedEndpoint:
    """Checks a POST to an OAuth endpoint before DOT sees it (RFC 6749 §3.2: no parameter
    more than once), and answers other methods and database outages in JSON."""

    grant_types: tuple[str, ...] | None = None  # the grant types offered, where that applies

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return oauth_error(
            405, "invalid_request", f"{request.method} is not allowed; use POST", Allow="POST"
        )

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.http_method_not_allowed(request)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _BAD_ESCAPE.search(request.META.get("QUERY_STRING", "")):
            return oauth_error(400, "invalid_request", "the query string has a malformed %-escape")
        try:
            if request.method == "POST":
                refused = self.refuse(request)
                if refused is not None:
                    return refused
                # A wrong client secret counts as a failed authentication of the address.
                return limit_failures(
                    request,
                    lambda: super(GuardedEndpoint, self).dispatch(request, *args, **kwargs),
                    failed=lambda response: response.status_code == 401,
                    too_many=too_many_failures,
                )
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except SuspiciousOperation as exc:
            return oauth_error(400, "invalid_request", unreadable(exc))
        except ObjectDoesNotExist:
            # Two requests spent the same code or refresh token at once: DOT finds it gone
            # half way through the loser's request.
            return oauth_error(400, "invalid_grant", "the code or refresh token was already used")
        except DataError:
            return oauth_error(400, "invalid_request", UNSTORABLE)
        except DatabaseError as exc:
            logger.warning("database unavailable at %s: %s", request.path, type(exc).__name__)
            response = oauth_error(
                503,
                "temporarily_unavailable",
                "the service is temporarily unavailable; try again shortly",
                Retry_After=str(RETRY_AFTER_SECONDS),
            )
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response

    def refuse(self, request: HttpRequest) -> JsonResponse | None:
        for name, values in request.POST.lists():
            if len(values) > 1:
                return oauth_error(400, "invalid_request", f"{name}: given more than once")
            if has_control_characters(name) or has_control_characters(values[0]):
                return oauth_error(
                    400,
                    "invalid_request",
                    f"{name[:40]!r}: control characters (such as NUL) are not allowed",
                )
        basic = basic_credentials(request)
        if has_control_characters(basic):
            return oauth_error(
                400,
                "invalid_request",
                "Authorization: control characters (such as NUL) are not allowed",
            )
        if basic and ("client_secret" in request.POST or "client_id" in request.POST):
            # RFC 6749 §2.3: one way of authenticating the client per request.
            return oauth_error(
                400,
                "invalid_request",
                "authenticate the client either with HTTP Basic or with client_id and "
                "client_secret in the body, not both",
            )
        if self.grant_types is not None and request.POST.get("grant_type") not in self.grant_types:
            return oauth_error(
                400,
                "unsupported_grant_type",
                f"grant_type: this server offers {', '.join(self.grant_types)}",
            )
        if "scope" in request.POST:
            # An empty scope is an absent one (the grant's scopes), not invalid_scope; a
            # scope named twice counts once.
            params = request.POST.copy()
            scopes = list(dict.fromkeys(params["scope"].split()))
            if scopes:
                params["scope"] = " ".join(scopes)
            else:
                del params["scope"]
            request.POST = params
        return None


def _exempt(view: type) -> type:
    view = method_decorator(csrf_exempt, name="dispatch")(view)
    return method_decorator(login_not_required, name="dispatch")(view)


@_exempt
class TokenView(GuardedEndpoint, views.TokenView):
    # Refused before any credential is looked at: a grant type this server does not offer
    # must not become a way to test a user's password.
    grant_types = ("client_credentials", "authorization_code", "refresh_token")


@_exempt
class RevokeTokenView(GuardedEndpoint, views.RevokeTokenView):
    pass


def authenticate_client(request: HttpRequest) -> Application | None:
    """The confidential client a request authenticates as (HTTP Basic, or ``client_id`` and
    ``client_secret`` in the body), or None; as slow for an unknown client as for a wrong
    secret (one password hash either way)."""
    basic = basic_credentials(request)
    if basic:
        client_id, _, secret = (unquote(part) for part in basic.partition(":"))
    else:
        client_id = request.POST.get("client_id", "")
        secret = request.POST.get("client_secret", "")
    client = Application.objects.filter(client_id=client_id).first() if client_id else None
    if client is None or client.client_type != Application.CLIENT_CONFIDENTIAL:
        make_password(secret or "cds-unknown-client")
        return None
    return client if check_password(secret, client.client_secret) else None


@_exempt
class IntrospectView(GuardedEndpoint, View):
    """RFC 7662 token introspection for resource servers (``/oauth/introspect``).

    The caller authenticates as a client (HTTP Basic or ``client_id``/``client_secret``).
    A client named in ``CDS_RESOURCE_SERVERS`` may introspect any token; any other client
    only its own (RFC 7662 §4 lets the answer depend on who asks), and learns nothing else:
    someone else's token is simply ``{"active": false}``."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        caller = authenticate_client(request)
        if caller is None:
            return oauth_error(
                401, "invalid_client", "client authentication failed", WWW_Authenticate="Basic"
            )
        token = request.POST.get("token", "")
        if not token:
            return oauth_error(400, "invalid_request", "token: is missing")
        found = introspect(token, caller, caller.client_id in settings.CDS_RESOURCE_SERVERS)
        response = JsonResponse(found)
        response["Cache-Control"] = "no-store"
        return response
