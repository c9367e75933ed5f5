"""The admin's grant preview: what each Customer Data API endpoint returns for a grant now.

Nothing is re-implemented: each endpoint's own view (the class ``cdsapi.urls`` routes to)
is called in-process, as a client's request would reach it, with a transient access token
bound to the grant. The token is an unsaved ``AccessToken`` (never written, so it can never
be presented by anyone); ``PreviewAuthentication`` hands it to the view after the same grant
check the bearer authentication makes on every request, so a grant that is not active
gets the API's real 401.

- **Host**: the request is built for ``CDS_ISSUER`` (its scheme, host and path), so the
  ``next``/``previous`` links are the ones a client gets from the public URL, never the
  admin's host. Its host comes from that setting, not from a header, so ``ALLOWED_HOSTS``
  (which guards against forged ``Host`` headers) is not consulted: ``PreviewRequest.get_host``.
- **Plaintext**: a request marked ``cds_preview`` is never encrypted to the grant's ``jwk``
  (``CdsListView.encrypted``), so the preview shows exactly the body a client decrypts.
- **Marked**: ``request.cds_preview`` is True on every preview request (throttles leave it
  alone: it is no client's traffic; the view is also built without throttle classes), and
  ``request.cds_staff_user`` names the staff user, written to the access log row that the
  view writes as for any request (client and grant: the grant's; a fresh request id).
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory
from django.urls import resolve
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings
from rest_framework.authentication import BaseAuthentication

from cdsapi import exactjson
from cdsapi.api.authentication import BearerTokenAuthentication
from cdsapi.grants.oauth import why_inactive
from cdsapi.grants.policy import encryption_key
from cdsapi.models import AccessToken, Grant

API_PREFIX = "/cds-customerdata-api/v1/"
ENDPOINTS = (
    "accounts",
    "service-contracts",
    "service-points",
    "meter-devices",
    "bill-statements",
    "bill-sections",
    "usage-segments",
)


@dataclass(frozen=True)
class EndpointPreview:
    endpoint: str
    url: str  # the request, as a client would send it to CDS_ISSUER
    status: int
    body: str  # the response body, decoded: exactly what a client reads (after decrypting)
    content_type: str
    encrypted: bool  # whether a client receives the body as a JWE to the grant's jwk
    request_id: str  # of the access log row written

    @property
    def data(self) -> Any:
        """The body parsed, decimals exact; None if it is not JSON."""
        if not self.body or not self.content_type.startswith("application/json"):
            return None
        return exactjson.loads(self.body)

    @property
    def pretty(self) -> str:
        """The body re-indented; every number keeps exactly its digits."""
        data = self.data
        if data is None:
            return self.body
        return exactjson.dumps(data, indent=2, separators=(",", ": "))

    @property
    def rows(self) -> int | None:
        data = self.data
        items = [v for v in data.values() if isinstance(v, list)] if isinstance(data, dict) else []
        return len(items[0]) if self.status == 200 and len(items) == 1 else None

    @property
    def next(self) -> str | None:
        data = self.data
        return data.get("next") if isinstance(data, dict) else None


class PreviewRequest(WSGIRequest):
    """A request as a client sends it to ``CDS_ISSUER``. Its host is that setting's, given
    here, not a header a client sent: there is nothing for ``ALLOWED_HOSTS`` to check."""

    def get_host(self) -> str:
        return urlsplit(settings.CDS_ISSUER).netloc.rpartition("@")[2]


class PreviewAuthentication(BaseAuthentication):
    """Authenticates a preview request only (its transient token is an attribute set
    in-process, never anything a client sends), answering as the bearer authentication
    answers for a token of this grant: while the grant is active, the token; otherwise
    no one, with the reason the 401 gives (``cdsapi.grants.oauth.why_inactive``)."""

    def authenticate(self, request: Any) -> tuple[Any, AccessToken] | None:
        token = getattr(request, "cds_preview_token", None)
        if token is None:
            return None
        if not token.cds_grant.is_active():
            request.cds_refused_token = token
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": why_inactive(token.cds_grant),
            }
            return None
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return f'Bearer realm="{BearerTokenAuthentication.www_authenticate_realm}"'


def transient_token(grant: Grant) -> AccessToken:
    """An access token bound to ``grant`` with its whole scope, as the token endpoint would
    issue one; never saved."""
    return AccessToken(
        application=grant.client,
        user=grant.customer,
        cds_grant=grant,
        scope=grant.scope,
        token=f"preview-{uuid.uuid4().hex}",
        expires=timezone.now() + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
    )


def build_request(endpoint: str, token: AccessToken, staff_user: str) -> PreviewRequest:
    """A ``GET`` of ``endpoint``'s first page, addressed to ``CDS_ISSUER``."""
    issuer = urlsplit(settings.CDS_ISSUER)
    secure = issuer.scheme == "https"
    built = RequestFactory().get(
        API_PREFIX + endpoint,
        secure=secure,
        SCRIPT_NAME=issuer.path.rstrip("/"),
        SERVER_NAME=issuer.hostname or "",
        SERVER_PORT=str(issuer.port or (443 if secure else 80)),
        HTTP_HOST=issuer.netloc.rpartition("@")[2],
    )
    request = PreviewRequest(built.environ)
    request.cds_preview = True
    request.cds_preview_token = token
    request.cds_staff_user = staff_user
    return request


def preview_endpoint(grant: Grant, endpoint: str, staff_user: str) -> EndpointPreview:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    request = build_request(endpoint, transient_token(grant), staff_user)
    view_class = resolve(API_PREFIX + endpoint).func.view_class
    view = view_class.as_view(authentication_classes=[PreviewAuthentication], throttle_classes=[])
    # As an API request runs: in Django's own zone, not the admin's (cdsapi.middleware).
    with timezone.override(None):
        response = view(request)
    return EndpointPreview(
        endpoint=endpoint,
        url=request.build_absolute_uri(),
        status=response.status_code,
        body=response.content.decode("utf-8"),
        content_type=response.get("Content-Type", ""),
        encrypted=encryption_key(grant) is not None and grant.is_active(),
        request_id=response.get("X-Request-ID", ""),
    )


def preview(
    grant: Grant, staff_user: Any, endpoints: tuple[str, ...] = ENDPOINTS
) -> list[EndpointPreview]:
    """What each of ``endpoints`` returns for ``grant`` now (its first page), each request
    logged under ``staff_user`` (a user, or a username)."""
    name = staff_user if isinstance(staff_user, str) else staff_user.get_username()
    return [preview_endpoint(grant, endpoint, name) for endpoint in endpoints]
