"""The customer's side of consent: the authorization endpoint and its consent page, pushed
requests, the default redirect, receipts, and the customer's own list of grants.

oauthlib (through django-oauth-toolkit's server and our validator) still issues the code;
these views only add what it does not know: ``authorization_details``, PAR, the customer's
selection and receipts.
"""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required, login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from cdsapi.api.throttling import limit_failures
from cdsapi.grants import details as ad
from cdsapi.grants import lifecycle
from cdsapi.grants.describe import describe
from cdsapi.grants.oauth_views import (
    authenticate_client,
    basic_credentials,
    oauth_error,
    too_many_failures,
)
from cdsapi.grants.scopes import scope_of_type
from cdsapi.grants.upstream import PRESELECTIONS
from cdsapi.models import Application, AuthorizationCode, Grant
from consent import authorization, selection
from consent.approval import AlreadyUsed, SelectionError, approve
from consent.authorization import AuthorizationRequest, PageError, RedirectError, redirect_with
from consent.models import PushedRequest, Receipt

# A fresh login for prompt=login: one made this recently counts.
FRESH_LOGIN = timedelta(minutes=2)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200):
    response = render(
        request,
        f"consent/{template}",
        {"server": settings.CDS_SERVER_NAME, **context},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def invalid_request_page(request: HttpRequest, reason: str) -> HttpResponse:
    """The Invalid Request Error page (WG3 §9.3): nothing is sent to an untrusted URI."""
    return _page(request, "invalid_request.html", {"reason": reason}, status=400)


@method_decorator(login_not_required, name="dispatch")
class AuthorizeView(View):
    """``/oauth/authorize``: checks the request before login and again after, shows the
    consent page, and answers approve or decline with a redirect."""

    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            found = authorization.read(dict(request.GET.lists()))
        except PageError as exc:
            return invalid_request_page(request, str(exc))
        except RedirectError as exc:
            return HttpResponseRedirect(exc.location)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if "login" in found.prompts and not _fresh_login(request.user):
            # Asked to log in again; the session stays until they do (no logout by link).
            return redirect_to_login(request.get_full_path())
        try:
            authorization.check_customer(found, request.user)
        except RedirectError as exc:
            return HttpResponseRedirect(found.location(exc.error, exc.description))
        self.found = found
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        found = self.found
        ticks = selection.ticks(request.user, found.selection_type, list(found.raw_details))
        wants_match = any(e.get("error_if_no_preselections") for e in found.raw_details)
        if wants_match and ticks.asked and not ticks.ids and not ticks.include_future:
            return self._preselection_error(request)
        return self._consent(request, set(ticks.ids), ticks.include_future, set(found.scopes))

    def post(self, request: HttpRequest) -> HttpResponse:
        found = self.found
        repeated = [
            k for k, v in request.POST.lists() if len(v) > 1 and k != "resource" and k != "scope"
        ]
        if repeated:
            return invalid_request_page(request, f"{repeated[0]}: given more than once")
        decision = request.POST.get("decision")
        if decision != "approve":
            if found.pushed is not None:
                found.pushed.delete()
            if decision == "no_match":
                # WG3 §9.3.1 (§7.4.3 names it no_preselections; we use the RFC 9396 code).
                return HttpResponseRedirect(
                    found.location(
                        "invalid_authorization_details",
                        "the customer found nothing matching the preselections and declined",
                    )
                )
            return HttpResponseRedirect(found.location("access_denied", "the customer declined"))
        picked = request.POST.getlist("resource")
        include_future = request.POST.get("include_future") == "on"
        scopes = list(found.scopes)
        if found.allows_modifications:
            scopes = [s for s in found.scopes if s in request.POST.getlist("scope")]
        if not scopes:
            return self._consent(
                request,
                set(picked),
                include_future,
                set(),
                "keep at least one kind of data, or decline",
            )
        try:
            grant, _ = approve(found, request.user, picked, include_future, scopes)
        except AlreadyUsed as exc:
            return invalid_request_page(request, str(exc))
        except SelectionError as exc:
            return self._consent(request, set(picked), include_future, set(scopes), str(exc))
        except ad.InvalidAuthorizationDetails as exc:
            return HttpResponseRedirect(found.location(exc.error, str(exc)))
        except lifecycle.GrantEnded as exc:
            return HttpResponseRedirect(found.location("cds_grant_id_invalid_value", str(exc)))
        except lifecycle.GrantError as exc:
            return HttpResponseRedirect(found.location("invalid_request", str(exc)))
        return HttpResponseRedirect(_code_location(found, request.user, grant, scopes))

    def _consent(
        self,
        request: HttpRequest,
        ticked: set[str],
        include_future: bool,
        kept: set[str],
        problem: str = "",
    ) -> HttpResponse:
        found = self.found
        options = selection.choices(request.user, found.selection_type)
        return _page(
            request,
            "consent.html",
            {
                "client": found.client,
                "entries": [(describe(e), describe(e).scope_id in kept) for e in found.details],
                "modifiable": found.allows_modifications,
                "choices": [(c, c.id in ticked) for c in options],
                "include_future": include_future,
                "kind": found.selection_type.removesuffix("_selection").replace("_", " "),
                "searchable": len(options) > 10,
                "reauthorizing": found.grant,
                "problem": problem,
            },
            status=400 if problem else 200,
        )

    def _preselection_error(self, request: HttpRequest) -> HttpResponse:
        """WG3 §9.3.1: nothing the request preselects is this customer's. The page shows only
        what the client itself sent, so it reveals nothing the client did not know."""
        found = self.found
        asked = [
            (PRESELECTIONS_LABELS.get(name, name), ", ".join(map(str, e[name])))
            for e in found.raw_details
            for name in PRESELECTIONS
            if e.get(name)
        ]
        return _page(
            request,
            "preselection_error.html",
            {"client": found.client, "asked": asked},
        )


PRESELECTIONS_LABELS = {name: name.replace("_", " ") for name in PRESELECTIONS}


def _fresh_login(user: Any) -> bool:
    return user.last_login is not None and timezone.now() - user.last_login < FRESH_LOGIN


def _code_location(found: AuthorizationRequest, user: Any, grant: Grant, scopes: list[str]) -> str:
    """oauthlib makes the code (bound to the grant by our validator) and the redirect."""
    server = get_oauthlib_core().server
    uri = f"{settings.CDS_ISSUER}{reverse('oauth-authorize')}?{urlencode(found.oauth_params())}"
    try:
        headers, _, _ = server.create_authorization_response(
            uri, scopes=scopes, credentials={"user": user, "cds_grant": grant}
        )
    except oauth_errors.OAuth2Error as exc:  # pragma: no cover - checked before by read()
        return found.location(exc.error, exc.description or "")
    return redirect_with(headers["Location"])


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class PushedAuthorizationView(View):
    """``/oauth/par`` (RFC 9126): the client posts the request's parameters and gets a
    one-time ``request_uri`` to send the customer to ``/oauth/authorize`` with."""

    http_method_names = ["post"]

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return oauth_error(
            405, "invalid_request", f"{request.method} is not allowed; use POST", Allow="POST"
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        return limit_failures(
            request,
            lambda: self.push(request),
            failed=lambda response: response.status_code == 401,
            too_many=too_many_failures,
        )

    def push(self, request: HttpRequest) -> HttpResponse:
        params = dict(request.POST.lists())
        if "request_uri" in params:
            return oauth_error(400, "invalid_request", "request_uri: must not be pushed")
        client = self._client(request)
        if client is None:
            return oauth_error(
                401, "invalid_client", "client authentication failed", WWW_Authenticate="Basic"
            )
        params.pop("client_secret", None)
        params["client_id"] = [client.client_id]
        try:
            found = authorization.read(params)
        except PageError as exc:
            return oauth_error(400, "invalid_request", str(exc))
        except RedirectError as exc:
            return oauth_error(400, exc.error, exc.description)
        seconds = settings.CDS_PAR_SECONDS
        pushed = PushedRequest.objects.create(
            client=found.client,
            params={
                k: v[0]
                for k, v in params.items()
                if k in authorization.PARAMETERS and k != "client_id"
            },
            expires=timezone.now() + timedelta(seconds=seconds),
        )
        response = JsonResponse(
            {"request_uri": pushed.request_uri, "expires_in": seconds}, status=201
        )
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _client(request: HttpRequest) -> Application | None:
        """A confidential client authenticates; a public one names itself (RFC 9126 §2)."""
        if basic_credentials(request) or "client_secret" in request.POST:
            return authenticate_client(request)
        client_id = request.POST.get("client_id", "")
        client = Application.objects.filter(client_id=client_id).first() if client_id else None
        if client is None or client.client_type != Application.CLIENT_PUBLIC:
            return None
        return client


@login_not_required
def default_redirect(request: HttpRequest, client_id: str) -> HttpResponse:
    """The server-hosted redirect URI (WG1-02 §5.1): an approval lands on its receipt; an
    error on the Default Redirect Error page."""
    client = get_object_or_404(Application, client_id=client_id)
    code = request.GET.get("code", "")
    found = (
        AuthorizationCode.objects.filter(code=code, application=client)
        .select_related("cds_grant")
        .first()
        if code
        else None
    )
    if found is not None and found.cds_grant is not None:
        receipt = found.cds_grant.receipts.filter(superseded_by=None).first()
        if receipt is not None:
            return HttpResponseRedirect(reverse("consent-receipt", args=[receipt.key]))
    # Only this server's own words: the query string is anyone's to write.
    error = request.GET.get("error", "")
    return _page(
        request,
        "default_redirect_error.html",
        {"client": client, "reason": REDIRECT_ERRORS.get(error, REDIRECT_ERRORS[""])},
        status=400,
    )


REDIRECT_ERRORS = {
    "access_denied": "You declined; nothing is shared.",
    "invalid_request": "The application's request could not be accepted; nothing is shared.",
    "invalid_scope": "The application asked for data this server does not share this way.",
    "invalid_authorization_details": "The application's request could not be accepted; "
    "nothing is shared.",
    "consent_required": "The application asked to skip your approval; nothing is shared.",
    "cds_grant_id_invalid_value": "The application named an authorization that is not its "
    "own; nothing is shared.",
    "cds_grant_id_invalid_user": "That authorization was given by someone else; nothing is shared.",
    "": "The authorization did not complete; nothing is shared.",
}


@login_not_required
def receipt(request: HttpRequest, key: str) -> HttpResponse:
    """A receipt (WG3 §9.4): anyone with the link sees what was approved and may revoke;
    only the customer, logged in, sees which of their resources were shared."""
    found = get_object_or_404(Receipt.objects.select_related("grant", "grant__client"), key=key)
    grant = found.grant
    owner = request.user.is_authenticated and request.user.pk == grant.customer_id
    client = grant.client
    changes = []
    if client.name != found.client_name:
        changes.append(("Recipient", found.client_name, client.name))
    if (client.client_uri or "") != found.client_uri:
        changes.append(("Recipient's website", found.client_uri, client.client_uri))
    if grant.scope != found.scope:
        changes.append(("Scopes", found.scope, grant.scope))
    if grant.authorization_details != found.authorization_details:
        now = "; ".join(
            f"{d.name}: {', '.join([*d.shares, *d.limits]) or 'the basics'}"
            for d in map(describe, grant.authorization_details)
        )
        changes.append(("What is shared", "as listed below", now))
    return _page(
        request,
        "receipt.html",
        {
            "receipt": found,
            "grant": grant,
            "status": _status_words(grant),
            "active": grant.is_active(),
            "entries": [describe(e) for e in found.authorization_details],
            "owner": owner,
            "items": found.selection.get("items", []),
            "changes": changes,
            "support": settings.CDS_SUPPORT,
        },
    )


@login_not_required
@require_POST
def revoke_from_receipt(request: HttpRequest, key: str) -> HttpResponse:
    """Revoking needs only the receipt's link (WG3 §9.4), no login."""
    found = get_object_or_404(Receipt.objects.select_related("grant"), key=key)
    if found.grant.status not in Grant.FINAL:
        lifecycle.revoke_grant(found.grant)
    return HttpResponseRedirect(reverse("consent-receipt", args=[key]))


@login_required
def my_grants(request: HttpRequest) -> HttpResponse:
    """The customer's own grants: who, what, since when, status; each revocable."""
    grants = (
        Grant.objects.filter(customer=request.user, administers=None)
        .select_related("client")
        .prefetch_related("receipts")
        .order_by("-created")
    )
    rows = [
        {
            "grant": g,
            "status": _status_words(g),
            "active": g.is_active(),
            "entries": [describe(e) for e in g.authorization_details if _describable(e)],
            "receipts": list(g.receipts.all()),
        }
        for g in grants
    ]
    return _page(request, "my_grants.html", {"rows": rows})


@require_POST
@login_required
def revoke_mine(request: HttpRequest, grant_id: str) -> HttpResponse:
    grant = get_object_or_404(Grant, pk=grant_id, customer=request.user)
    if grant.status not in Grant.FINAL:
        lifecycle.revoke_grant(grant)
    return HttpResponseRedirect(reverse("consent-my-grants"))


def _describable(entry: dict[str, Any]) -> bool:
    return scope_of_type(entry.get("type", "")) is not None


def _status_words(grant: Grant) -> str:
    return {
        Grant.Status.ACTIVE: "Active: being shared",
        Grant.Status.REVOKED: "Revoked: no longer shared",
        Grant.Status.CLOSED: "Closed by the recipient: no longer shared",
        Grant.Status.EXPIRED: "Expired: no longer shared",
        Grant.Status.SUSPENDED: "Suspended by the utility: not shared for now",
    }.get(grant.shown_status(), grant.status)


@method_decorator(login_not_required, name="dispatch")
class CustomerLoginView(LoginView):
    template_name = "consent/login.html"
    extra_context = {"server": settings.CDS_SERVER_NAME}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A wrong password counts against the address, as a bad token does."""
        return limit_failures(
            request,
            lambda: super(CustomerLoginView, self).post(request, *args, **kwargs),
            failed=lambda response: response.status_code == 200,  # the form again
            too_many=_too_many_logins,
        )


def _too_many_logins(seconds: int) -> HttpResponse:
    response = HttpResponse(
        f"Too many failed logins from this address; try again in {seconds} seconds.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response


@login_not_required
@require_POST
def switch_customer(request: HttpRequest) -> HttpResponse:
    """Log out and log in again, as someone else, coming back to where the customer was."""
    logout(request)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("consent-my-grants")
    return redirect_to_login(target)
