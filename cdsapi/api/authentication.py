"""Bearer-token authentication for the Customer Data API (RFC 6750)."""

from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.permissions import BasePermission


class BearerTokenAuthentication(OAuth2Authentication):
    """DOT's authentication; our validator adds the per-request grant check."""

    www_authenticate_realm = "cdsapi"


class HasGrantToken(BasePermission):
    """A request needs a valid token bound to an active grant; what it may see is the policy's."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.auth is not None and getattr(request.auth, "cds_grant", None) is not None
