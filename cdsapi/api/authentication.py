"""Bearer-token authentication for the Customer Data API (RFC 6750)."""

from collections import OrderedDict
from typing import Any

from django.core.exceptions import SuspiciousOperation
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_backends import get_oauthlib_core
from rest_framework.exceptions import Throttled
from rest_framework.permissions import BasePermission

from cdsapi.api.throttling import client_ip, failed_authentication
from cdsapi.grants import remote
from cdsapi.models import AccessToken

TOO_MANY_FAILURES = "too many requests with an invalid access token from this address"


class BearerTokenAuthentication(OAuth2Authentication):
    """DOT's authentication; our validator adds the per-request grant check. A resource
    server run apart (``CDS_AUTHORIZATION_SERVER_URL`` set) asks the authorization server
    instead, and never reads the token table (``cdsapi.grants.remote``)."""

    www_authenticate_realm = "cdsapi"

    def authenticate(self, request: Any) -> tuple[Any, AccessToken] | None:
        """The token's user and token, or None; a bearer token that gives no access counts
        against the client's address (``cdsapi.api.throttling``), and an address over that
        limit is refused (429) before its token is looked up."""
        ip = client_ip(request)
        refused_for = failed_authentication.refused(ip)
        if refused_for is not None:
            raise Throttled(refused_for, detail=TOO_MANY_FAILURES)
        found = self.look_up(request)
        if found is None and bearer_token(request):
            refused_for = failed_authentication.failed(ip)
            if refused_for is not None:
                raise Throttled(refused_for, detail=TOO_MANY_FAILURES)
        return found

    def look_up(self, request: Any) -> tuple[Any, AccessToken] | None:
        if not remote.enabled():
            return self.look_up_locally(request)
        # As DOT does: a token in the query string is never one (RFC 9700 §4.3.2).
        if "access_token" in request.query_params:
            return None
        token = bearer_token(request)
        if not token:
            return None
        try:
            access_token = remote.access_token(token)
        except remote.InactiveToken as exc:
            request.oauth2_error = OrderedDict(
                [("error", "invalid_token"), ("error_description", str(exc))]
            )
            return None
        return access_token.user, access_token

    def look_up_locally(self, request: Any) -> tuple[Any, AccessToken] | None:
        """DOT's own check (``OAuth2Authentication.authenticate``), keeping what our
        validator learnt of a token it refused (``cds_refused_token``: known, but expired or
        its grant inactive) so the access log can name its client and grant."""
        try:
            valid, oauthlib_request = get_oauthlib_core().verify_request(request, scopes=[])
        except ValueError as error:
            if str(error) == "Invalid hex encoding in query string.":
                raise SuspiciousOperation(error) from None
            raise
        if valid:
            return oauthlib_request.user, oauthlib_request.access_token
        request.oauth2_error = getattr(oauthlib_request, "oauth2_error", {})
        request.cds_refused_token = getattr(oauthlib_request, "cds_refused_token", None)
        return None


def bearer_token(request: Any) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, read as oauthlib reads it
    for local mode (so both modes accept the same headers); empty when there is none."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    return parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else ""


class HasGrantToken(BasePermission):
    """A request needs a valid token bound to an active grant; what it may see is the policy's."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.auth is not None and getattr(request.auth, "cds_grant", None) is not None
