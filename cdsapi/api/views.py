"""The one base view every Customer Data API endpoint inherits.

A subclass names its envelope key, its serializer, its filters and which of the policy's
rules it serves; the base view does everything else the same way for every endpoint:
authentication, the policy, parameter checks, filtering, paging and rendering.
"""

from typing import Any, ClassVar

from django.http import HttpResponse
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accesslog import log as access_log
from cdsapi.api.authentication import BearerTokenAuthentication, HasGrantToken
from cdsapi.api.exceptions import InvalidRequest
from cdsapi.api.filters import Filter
from cdsapi.api.pagination import PAGING_PARAMS
from cdsapi.grants import jwk
from cdsapi.grants.policy import Policy, Rule, compile_policy, encryption_key
from cdsapi.text import has_control_characters


class CdsListView(APIView):
    envelope: ClassVar[str]
    rule: ClassVar[str]
    serializer_class: ClassVar[type | None] = None
    filters: ClassVar[tuple[Filter, ...]] = ()
    extra_params: ClassVar[tuple[str, ...]] = ()

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasGrantToken]
    http_method_names = ["get", "head"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        access_log.start(request)
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

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """A grant with a ``jwk`` gets every body, errors included, as a JWE encrypted to it
        (compact serialization, ``application/jose``; see ``cdsapi.grants.jwk``). A request
        refused before its token was read has no grant to encrypt to."""
        response = super().finalize_response(request, response, *args, **kwargs)
        served = self.encrypted(request, response)
        # Every Customer Data API request: one access log row (accesslog), X-Request-ID.
        return access_log.record(request, response, served, getattr(self, "envelope", None))

    def encrypted(self, request: Request, response: Response) -> HttpResponse:
        # Only a request already authenticated: reading request.auth would authenticate now.
        token = getattr(request, "_auth", None)
        grant = getattr(token, "cds_grant", None)
        key = encryption_key(grant) if grant is not None else None
        if key is None:
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

    def query_params(self, request: Request) -> dict[str, str]:
        """The query string as a plain dict; unknown or repeated parameters are refused."""
        known = {f.param for f in self.filters} | set(PAGING_PARAMS) | set(self.extra_params)
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
        page = rule.listing(parsed, params, request, serializer)
        return Response({self.envelope: page.rows, "next": page.next, "previous": page.previous})
