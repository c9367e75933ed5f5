"""Bearer-token authentication for the Customer Data API (RFC 6750)."""

from collections import OrderedDict
from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.permissions import BasePermission

from cdsapi.grants import remote
from cdsapi.models import AccessToken


class BearerTokenAuthentication(OAuth2Authentication):
    """DOT's authentication; our validator adds the per-request grant check. A resource
    server run apart (``CDS_AUTHORIZATION_SERVER_URL`` set) asks the authorization server
    instead, and never reads the token table (``cdsapi.grants.remote``)."""

    www_authenticate_realm = "cdsapi"

    def authenticate(self, request: Any) -> tuple[Any, AccessToken] | None:
        if not remote.enabled():
            return super().authenticate(request)
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


def bearer_token(request: Any) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, read as oauthlib reads it
    for local mode (so both modes accept the same headers); empty when there is none."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    return parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else ""


class HasGrantToken(BasePermission):
    """A request needs a valid token bound to an active grant; what it may see is the policy's."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.auth is not None and getattr(request.auth, "cds_grant", None) is not None
