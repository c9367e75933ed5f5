"""The one base view every Customer Data API endpoint inherits.

A subclass names its envelope key, its serializer, its filters and which of the policy's
rules it serves; the base view does everything else the same way for every endpoint:
authentication, rate limits, the policy, parameter checks, filtering, paging and rendering.
"""

from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import MethodNotAllowed, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accesslog import log as access_log
from cdsapi import replica
from cdsapi.api.authentication import BearerTokenAuthentication, HasGrantToken
from cdsapi.api.exceptions import InvalidRequest
from cdsapi.api.filters import Filter
from cdsapi.api.pagination import PAGING_PARAMS
from cdsapi.api.throttling import ClientRateThrottle
from cdsapi.grants import jwk
from cdsapi.grants.policy import Policy, Rule, compile_policy, encryption_key
from cdsapi.text import has_control_characters

# What a browser on an allowed origin may send and read (CDS_CORS_ORIGINS).
CORS_REQUEST_HEADERS = "Authorization, Content-Type, X-Request-ID"
CORS_EXPOSED_HEADERS = "Retry-After, WWW-Authenticate, X-Request-ID"
CORS_MAX_AGE_SECONDS = 600


def cors(request: Request, response: HttpResponse, methods: list[str]) -> None:
    """CORS for a browser on an origin ``CDS_CORS_ORIGINS`` lists (``*``: any). The token is
    a bearer header, never a cookie: no credentials mode."""
    allowed = settings.CDS_CORS_ORIGINS
    if not allowed:
        return
    patch_vary_headers(response, ["Origin"])
    origin = request.META.get("HTTP_ORIGIN", "")
    if not origin or (origin not in allowed and "*" not in allowed):
        return
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response["Access-Control-Allow-Methods"] = ", ".join(methods)
        response["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
        response["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)


class CdsListView(APIView):
    envelope: ClassVar[str]
    rule: ClassVar[str]
    serializer_class: ClassVar[type | None] = None
    filters: ClassVar[tuple[Filter, ...]] = ()
    extra_params: ClassVar[tuple[str, ...]] = ()

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasGrantToken]
    # Requests per OAuth client (cdsapi.api.throttling); failed authentications per address
    # are counted by the authentication itself, before the token is looked up.
    throttle_classes = [ClientRateThrottle]
    # What the endpoint serves, and what every answer's Allow header names (a 405's too).
    # OPTIONS is answered on every endpoint besides, without a token (CORS preflight).
    http_method_names = ["get", "head"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        access_log.start(request)
        if request.method == "OPTIONS":
            return  # nothing is read: no token, no throttle
        # Refuse other methods before authentication, which would try to parse a body.
        if request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        # Refused before authentication, so the answer is the same whatever the token is.
        if "access_token" in request.query_params:
            raise InvalidRequest(
                "access_token: send the token in the Authorization header "
                "(RFC 6750 §2.1), never in the query string"
            )
        super().initial(request, *args, **kwargs)

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        if request.method == "OPTIONS":
            return self.options(request, *args, **kwargs)
        raise MethodNotAllowed(request.method)

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """``OPTIONS``: 204 with ``Allow``, for anyone (a browser's CORS preflight carries
        no token); the CORS headers follow ``CDS_CORS_ORIGINS``."""
        return Response(status=204, headers={"Allow": ", ".join(self.options_allow())})

    def options_allow(self) -> list[str]:
        return [*self.allowed_methods, "OPTIONS"]

    def throttled(self, request: Request, wait: float | None) -> None:
        raise Throttled(wait, detail="too many requests from this client")

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """A grant with a ``jwk`` gets every body, errors included, as a JWE encrypted to it
        (compact serialization, ``application/jose``; see ``cdsapi.grants.jwk``). A request
        refused before its token was read has no grant to encrypt to."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "OPTIONS" and response.status_code == 204:
            response["Allow"] = ", ".join(self.options_allow())
        served = self.encrypted(request, response)
        # A customer's data, or an answer about a token: never kept by a cache on the way.
        served["Cache-Control"] = "no-store"
        cors(request, served, self.options_allow())
        # Every Customer Data API request: one access log row (accesslog), X-Request-ID.
        envelope = getattr(self, "envelope", None)
        return access_log.record(request, response, served, envelope, self.known_params())

    def encrypted(self, request: Request, response: Response) -> HttpResponse:
        # Only a request already authenticated: reading request.auth would authenticate now.
        token = getattr(request, "_auth", None)
        grant = getattr(token, "cds_grant", None)
        key = encryption_key(grant) if grant is not None else None
        # An admin preview (cdsapi.grants.preview) shows the plaintext a client decrypts.
        if key is None or getattr(request, "cds_preview", False):
            return response
        response.render()
        encrypted = HttpResponse(
            jwk.encrypt(response.content, key) if response.content else b"",
            status=response.status_code,
            content_type=jwk.CONTENT_TYPE,
        )
        for header in ("WWW-Authenticate", "Allow", "Retry-After", "Vary"):
            if header in response:
                encrypted[header] = response[header]
        return encrypted

    def policy(self, request: Request) -> Policy:
        token = request.auth
        policy = compile_policy(token.cds_grant, token.scope.split())
        request.cds_account_ids = policy.account_ids  # for the access log
        return policy

    def known_params(self) -> frozenset[str]:
        """The query parameters this endpoint takes (any other is refused)."""
        return frozenset(
            {f.param for f in self.filters} | set(PAGING_PARAMS) | set(self.extra_params)
        )

    def query_params(self, request: Request) -> dict[str, str]:
        """The query string as a plain dict; unknown or repeated parameters are refused."""
        known = self.known_params()
        params = {}
        for name, values in request.query_params.lists():
            if name not in known:
                raise InvalidRequest(
                    f"unknown query parameter {name[:40]!r}; this endpoint takes "
                    + ", ".join(sorted(known))
                )
            if len(values) > 1:
                raise InvalidRequest(f"{name}: given more than once")
            if has_control_characters(values[0]):
                raise InvalidRequest(f"{name}: control characters (such as NUL) are not allowed")
            params[name] = values[0]
        return params

    def get_rule(self, policy: Policy, params: dict[str, str]) -> Rule:
        return getattr(policy, self.rule)()

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.query_params(request)
        rule = self.get_rule(self.policy(request), params)
        parsed = [(f, f.parse(params[f.param])) for f in self.filters if f.param in params]
        serializer = self.serializer_class() if self.serializer_class else None
        # The policy is compiled from the primary; only the rows it lets through may come
        # from the read replica (cdsapi.replica).
        with replica.serving_listing():
            page = rule.listing(parsed, params, request, serializer)
        return Response({self.envelope: page.rows, "next": page.next, "previous": page.previous})
