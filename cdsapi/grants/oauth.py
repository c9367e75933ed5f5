"""django-oauth-toolkit extended at its one seam, the validator: tokens carry a CDS grant.

- Token endpoint, ``client_credentials``, three requests (see ``_requested_grant``): the
  seed one naming one of the client's server-created grants
  (``[{"type":"cds_grant_admin","grant_id":"..."}]``); the upstream grant-admin request
  (``scope=cds_grant_admin_1``), which makes a grant-admin grant reading through the named
  one; and direct access (``scope=cds_query_...``), which makes a direct-access grant. The
  token is bound to that grant, and the response adds the ``authorization_details`` its
  scopes carry and ``cds_grant_ids``.
- Resource requests: a token is valid only while its grant (and the grant it administers)
  is active, checked on every request.
"""

import hashlib
import uuid
from collections import OrderedDict
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from accounts.models import Account
from accounts.queries import json_array, json_list
from cdsapi.grants import details as ad
from cdsapi.grants import lifecycle
from cdsapi.grants.lookup import CompiledLookup
from cdsapi.grants.scopes import registry
from cdsapi.grants.upstream import CLIENT_ADMIN
from cdsapi.models import AccessToken, Application, AuthorizationCode, Grant, RefreshToken


def _token_query(checksum: str) -> QuerySet[AccessToken]:
    """A token with its client, user and grant, and the grant's accounts (one query)."""
    tokens = AccessToken.objects.select_related("application", "user", "cds_grant")
    return tokens.annotate(cds_account_rows=_grant_accounts()).filter(token_checksum=checksum)


# Every request looks its token up: the query is compiled once per connection.
_TOKENS = CompiledLookup("access_token", _token_query)


def _grant_accounts() -> RawSQL:
    """The token's grant's selected accounts as a JSON array of ``[pk, cds_account_id]``,
    read in the token's own query (``Grant.selected_accounts``)."""
    qn = connection.ops.quote_name
    link = Grant.accounts.through._meta
    account = Account._meta
    rows = (
        f"FROM {qn(link.db_table)} l JOIN {qn(account.db_table)} a ON a.id = l.account_id "
        f"WHERE l.grant_id = {qn(AccessToken._meta.db_table)}.cds_grant_id"
    )
    pair = "json_build_array" if connection.vendor == "postgresql" else "json_array"
    return json_array(f"{pair}(a.id, a.cds_account_id)", rows)


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
            # client_credentials is for confidential clients only (RFC 6749 §4.4).
            return request.client.client_type == request.client.CLIENT_CONFIDENTIAL
        if not getattr(request, "cds_client_found", False):
            make_password("cds-unknown-client")
        return False

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        """Every token request authenticates its client, except a public client exchanging
        a code (proved by PKCE) or a refresh token bound to its grant (RFC 6749 §6), or
        revoking its own token."""
        if request.grant_type in ("authorization_code", "refresh_token", None):
            # None: a revocation request, which a public client may make (RFC 7009 §2.1).
            return super().client_authentication_required(request, *args, **kwargs)
        return True

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        """The registered redirect URIs, and the server-hosted default (WG1-02 §5.1)."""
        return redirect_uri == request.client.default_redirect_uri or super().validate_redirect_uri(
            client_id, redirect_uri, request, *args, **kwargs
        )

    def _create_authorization_code(self, request: Any, code: dict, expires: Any = None) -> Any:
        """A code is bound to the grant the customer just approved (the consent page creates
        it before the code, WG3 §9.4)."""
        authorization_code = super()._create_authorization_code(request, code, expires)
        authorization_code.cds_grant = request.cds_grant
        authorization_code.save(update_fields=["cds_grant"])
        return authorization_code

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        found = AuthorizationCode.objects.select_related("cds_grant").get(
            code=code, application=client
        )
        if found.spent:
            # A replayed code: whoever holds it also holds the tokens it gave (RFC 6749
            # §4.1.2), so those are revoked.
            now = timezone.now()
            issued = {"cds_grant": found.cds_grant, "application": client}
            AccessToken.objects.filter(**issued, created__gte=found.created).update(expires=now)
            RefreshToken.objects.filter(
                **issued, created__gte=found.created, revoked__isnull=True
            ).update(revoked=now)
            return False
        if found.cds_grant is None or not found.cds_grant.is_active():
            return False
        request.cds_grant = found.cds_grant
        return True

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        """A spent code is kept, marked, until it expires (DOT deletes it), so that a replay
        is recognised; of two requests spending it at once, one wins."""
        spent = AuthorizationCode.objects.filter(
            code=code, application=request.client, spent=False
        ).update(spent=True)
        if not spent:
            raise errors.InvalidGrantError(request=request)

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        """A refresh token stays bound to its grant, and works only while the grant does."""
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        grant = request.refresh_token_instance.cds_grant
        if not grant.is_active():
            return False
        request.cds_grant = grant
        return True

    def get_original_scopes(
        self, refresh_token: str, request: Any, *args: Any, **kwargs: Any
    ) -> list:
        """What a refresh may ask for: the first token's scopes still held by the grant (a
        narrowed grant never widens again through a refresh)."""
        original = super().get_original_scopes(refresh_token, request, *args, **kwargs)
        original = original.split() if isinstance(original, str) else list(original)
        held = set(request.refresh_token_instance.cds_grant.scopes)
        return [s for s in original if s in held]

    def _create_refresh_token(
        self, request: Any, refresh_token_code: str, access_token: Any, previous_refresh_token: Any
    ) -> Any:
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            token_family=(
                previous_refresh_token.token_family if previous_refresh_token else uuid.uuid4()
            ),
            resource=getattr(request, "resource", []),
            cds_grant=access_token.cds_grant,
        )
        self._set_token_value(refresh_token, refresh_token_code)
        refresh_token.save()
        return refresh_token

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        """A confidential consent client also uses ``client_credentials``: for its Grants API
        and grant-admin tokens (WG1-02 §3.3.2, §8), although DOT registers one grant type."""
        consent_client = client.authorization_grant_type == client.GRANT_AUTHORIZATION_CODE
        if grant_type == "client_credentials" and consent_client:
            return client.client_type == client.CLIENT_CONFIDENTIAL
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_user(self, *args: Any, **kwargs: Any) -> bool:
        """No resource-owner password grant here: no password is ever checked."""
        return False

    def _load_application(self, client_id: str, request: Any) -> Any:
        application = super()._load_application(client_id, request)
        if application is not None:
            request.cds_client_found = True
        return application

    def _requested_grant(self, request: Any) -> Grant:
        """The grant a ``client_credentials`` token request is for (cached on the request):
        one of the client's server-created grants named by a ``cds_grant_admin`` entry; a new
        grant-admin grant (WG1-02 §3.3.2); or a new direct-access grant (WG3 §6.2). The new
        ones are saved with the token."""
        grant = getattr(request, "cds_grant", None)
        if grant is not None:
            return grant
        details = request._params.get("authorization_details")
        scope = request._params.get("scope")
        unknown = [s for s in (scope or "").split() if s not in registry()]
        if unknown:
            raise errors.InvalidScopeError(
                description=f"scope: unknown scope {unknown[0][:60]!r}", request=request
            )
        try:
            family = self._family(scope, details)
            if family == "client_admin":
                grant = lifecycle.client_admin_grant(request.client, scope, details)
            elif family == "grant_admin":
                grant = lifecycle.grant_admin_grant(request.client, scope, details)
            elif family == "direct":
                grant = lifecycle.direct_grant(request.client, scope, details)
            else:
                grant = self._server_created_grant(request, details)
        except ad.InvalidAuthorizationDetails as exc:
            raise InvalidAuthorizationDetailsError(description=str(exc), request=request) from None
        except lifecycle.GrantError as exc:
            raise errors.InvalidScopeError(description=str(exc), request=request) from None
        request.cds_grant = grant
        return grant

    @staticmethod
    def _family(scope: str | None, details: Any) -> str:
        """Which kind of request this is, by the scopes asked for or else the entry types."""
        known = registry()
        families = {known[s].family for s in (scope or "").split() if s in known}
        if not families:
            try:
                entries = ad.parse(details)
            except ad.InvalidAuthorizationDetails:
                return "seed"
            types = {e.get("type") for e in entries}
            families = {s.family for s in known.values() if s.id in types}
        for family in ("client_admin", "grant_admin", "direct"):
            if family in families:
                return family
        return "seed"

    def _server_created_grant(self, request: Any, details: Any) -> Grant:
        grant_ids = ad.grant_ids_requested(details)
        if len(grant_ids) != 1:
            raise ad.InvalidAuthorizationDetails(
                "authorization_details", "name exactly one cds_grant_admin grant_id"
            )
        grant = Grant.objects.filter(pk=grant_ids[0], client=request.client).first()
        direct = grant is not None and ad.family_of(grant.authorization_details) == "direct"
        internal = grant is not None and (
            grant.administers is not None or grant.scope == CLIENT_ADMIN.id
        )
        if grant is None or not grant.is_active() or internal or direct:
            raise ad.InvalidAuthorizationDetails(
                "authorization_details[0].grant_id",
                f"{grant_ids[0]!r} is not an active grant of this client",
            )
        return grant

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> list:
        if request.grant_type == "client_credentials":
            return self._requested_grant(request).scopes
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def validate_scopes(
        self, client_id: str, scopes: list, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if request.response_type == "code":
            # The consent page checked them against the registry (consent.authorization).
            known = registry()
            return all(s in known and known[s].by_consent for s in scopes)
        if request.grant_type == "client_credentials":
            held = self._requested_grant(request).scopes
            extra = [s for s in scopes if s not in held]
            if extra:
                raise errors.InvalidScopeError(
                    description=f"scope: the grant does not hold {extra[0][:60]!r} "
                    f"(it holds {' '.join(held)})",
                    request=request,
                )
            return True
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def _create_access_token(
        self, expires: Any, request: Any, token: dict, source_refresh_token: Any = None
    ) -> AccessToken:
        grant = (
            source_refresh_token.cds_grant
            if source_refresh_token is not None
            else self._requested_grant(request)
        )
        if grant._state.adding:
            grant.save()
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
        # As DOT does it, plus the grant and its accounts: one query per request, its SQL
        # compiled once per connection (the checksum is unique).
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        found = _TOKENS.get(checksum)
        if found is None:
            return None
        if found.cds_grant is not None:
            pairs = json_list(found.cds_account_rows)
            found.cds_grant.cds_account_rows = tuple((pk, ident) for pk, ident in pairs)
        return found

    def validate_bearer_token(self, token: str, scopes: list, request: Any) -> bool:
        valid = super().validate_bearer_token(token, scopes, request)
        # A revoked grant's tokens were expired too; say why they stopped working.
        access_token = request.access_token if valid else token and self._load_access_token(token)
        if not access_token:
            return False
        if not valid:
            request.cds_refused_token = access_token  # for the access log
        grant = access_token.cds_grant
        if not grant.is_active():
            request.cds_refused_token = access_token
            request.oauth2_error = OrderedDict(
                [("error", "invalid_token"), ("error_description", why_inactive(grant))]
            )
            return False
        return valid


def why_inactive(grant: Grant) -> str:
    """Why a grant gives no access, for the 401 (its own status, or the administered one's)."""
    for which, one in (
        ("the token's grant", grant),
        ("the grant it administers", grant.administers),
    ):
        if one is None:
            continue
        if one.status != Grant.Status.ACTIVE:
            return f"{which} is {one.status}"
        if one.expires is not None and one.expires <= timezone.now():
            return f"{which} has expired"
    return "the token's grant is not active"


def introspect(raw: str, caller: Application, resource_server: bool) -> dict[str, Any]:
    """RFC 7662 §2.2: the token as its grant stands now. Inactive if it is unknown, expired,
    its grant (or the grant it administers) is not active, or the caller may not see it."""
    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    token = (
        AccessToken.objects.select_related("application", "cds_grant")
        .filter(token_checksum=checksum)
        .first()
    )
    now = timezone.now()
    if (
        token is None
        or token.expires <= now
        or not token.cds_grant.is_active(now)
        or not (resource_server or token.application_id == caller.pk)
    ):
        return {"active": False}
    grant = token.cds_grant
    # What the token still reaches: a grant narrowed since keeps only its remaining scopes.
    scopes = [s for s in token.scope.split() if s in grant.scopes]
    if not scopes:
        return {"active": False}
    return {
        "active": True,
        "scope": " ".join(scopes),
        "client_id": token.application.client_id,
        "token_type": "Bearer",
        "exp": int(token.expires.timestamp()),
        "iat": int(token.created.timestamp()),
        "authorization_details": [e for e in grant.authorization_details if e["type"] in scopes],
        "cds_grant_ids": [grant.pk],
    }
