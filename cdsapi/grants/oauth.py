"""django-oauth-toolkit extended at its one seam, the validator: tokens carry a CDS grant.

- Token endpoint, ``client_credentials``: the client names one of its own server-created
  grants with ``authorization_details=[{"type":"cds_grant_admin","grant_id":"..."}]``; the
  token is bound to that grant, and the response adds the grant's ``authorization_details``
  and ``cds_grant_ids``.
- Resource requests: a token is valid only while its grant is active (checked every request).
"""

import hashlib
from collections import OrderedDict
from typing import Any

from django.contrib.auth.hashers import make_password
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from cdsapi.grants import details as ad
from cdsapi.grants import lifecycle
from cdsapi.models import AccessToken, Grant


class InvalidAuthorizationDetailsError(errors.OAuth2Error):
    """RFC 9396 §5 error, answered with HTTP 400 by the token endpoint."""

    error = "invalid_authorization_details"
    status_code = 400


class CdsOAuth2Validator(OAuth2Validator):
    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        """DOT's client authentication, taking as long for an unknown client as for a wrong
        secret: checking a hashed secret is the slow part, so when no client was found to
        check a secret against, one is hashed anyway (as Django's own login does for unknown
        users). No client-id oracle by timing."""
        if super().authenticate_client(request, *args, **kwargs):
            return True
        if not getattr(request, "cds_client_found", False):
            make_password("cds-unknown-client")
        return False

    def validate_user(self, *args: Any, **kwargs: Any) -> bool:
        """No resource-owner password grant here: no password is ever checked."""
        return False

    def _load_application(self, client_id: str, request: Any) -> Any:
        application = super()._load_application(client_id, request)
        if application is not None:
            request.cds_client_found = True
        return application

    def _requested_grant(self, request: Any) -> Grant:
        """The active grant of this client that the token request names (cached on request)."""
        grant = getattr(request, "cds_grant", None)
        if grant is not None:
            return grant
        try:
            grant_ids = ad.grant_ids_requested(request._params.get("authorization_details"))
        except ad.InvalidAuthorizationDetails as exc:
            raise InvalidAuthorizationDetailsError(description=str(exc), request=request) from None
        if len(grant_ids) != 1:
            raise InvalidAuthorizationDetailsError(
                description="authorization_details: name exactly one cds_grant_admin grant_id",
                request=request,
            )
        grant = Grant.objects.filter(pk=grant_ids[0], client=request.client).first()
        if grant is None or not grant.is_active():
            raise InvalidAuthorizationDetailsError(
                description=f"authorization_details[0].grant_id: {grant_ids[0]!r} is not an "
                "active grant of this client",
                request=request,
            )
        request.cds_grant = grant
        return grant

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> list:
        if request.grant_type == "client_credentials":
            return self._requested_grant(request).scopes
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def validate_scopes(
        self, client_id: str, scopes: list, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if request.grant_type == "client_credentials":
            return set(scopes) <= set(self._requested_grant(request).scopes)
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def _create_access_token(
        self, expires: Any, request: Any, token: dict, source_refresh_token: Any = None
    ) -> AccessToken:
        grant = (
            source_refresh_token.cds_grant
            if source_refresh_token is not None
            else self._requested_grant(request)
        )
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            application=request.client,
            source_refresh_token=source_refresh_token,
            cds_grant=grant,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        return access_token

    def save_bearer_token(self, token: dict, request: Any, *args: Any, **kwargs: Any) -> None:
        """The token lives no longer than its grant, and the response echoes the grant's
        entries the token carries (those whose scope it holds) and the grant's id."""
        grant = request.cds_grant
        token["expires_in"] = lifecycle.token_lifetime(grant)
        super().save_bearer_token(token, request, *args, **kwargs)
        scopes = set(token["scope"].split())
        token["authorization_details"] = [
            entry for entry in grant.authorization_details if entry["type"] in scopes
        ]
        token["cds_grant_ids"] = [grant.pk]

    def _load_access_token(self, token: str) -> AccessToken | None:
        # As DOT does it, plus the grant, so that a request costs one query for all three
        # (and get() rather than first(): the checksum is unique, no ORDER BY needed).
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        tokens = AccessToken.objects.select_related("application", "user", "cds_grant")
        try:
            return tokens.get(token_checksum=checksum)
        except AccessToken.DoesNotExist:
            return None

    def validate_bearer_token(self, token: str, scopes: list, request: Any) -> bool:
        valid = super().validate_bearer_token(token, scopes, request)
        # A revoked grant's tokens were expired too; say why they stopped working.
        access_token = request.access_token if valid else token and self._load_access_token(token)
        if not access_token:
            return False
        grant = access_token.cds_grant
        if not grant.is_active():
            request.oauth2_error = OrderedDict(
                [
                    ("error", "invalid_token"),
                    (
                        "error_description",
                        f"the token's grant is {grant.status}"
                        if grant.status != Grant.Status.ACTIVE
                        else "the token's grant has expired",
                    ),
                ]
            )
            return False
        return valid
