"""The Grants API (CDS-WG1-02 §8) at ``/cds-api/v1/grants``: a client's own grants, for a
token of its ``cds_client_admin`` scope. List with the upstream filters (newest change
first), get one by its ``uri``, and PATCH it: ``status: "closed"`` ends it, a smaller
``scope`` narrows it.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from cdsapi.api.exceptions import InsufficientScope, InvalidRequest
from cdsapi.api.filters import DateTimeBound, Filter, IdList, parse_list
from cdsapi.api.pagination import paginate
from cdsapi.api.parsers import StrictJSONParser
from cdsapi.api.views import CdsListView
from cdsapi.grants import details as ad
from cdsapi.grants import lifecycle
from cdsapi.grants.upstream import CLIENT_ADMIN
from cdsapi.models import Grant
from cdsapi.times import format_datetime


def _when(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment else None


def grant_object(grant: Grant, now: datetime | None = None) -> dict[str, Any]:
    """The upstream Grant object (WG1-02 §8.1). A grant past ``expires`` shows ``expired``;
    one that gives no access shows empty ``enabled_*``."""
    status = grant.shown_status(now)
    enabled = status == Grant.Status.ACTIVE
    return {
        "grant_id": grant.pk,
        "uri": settings.CDS_ISSUER + reverse("cds-grant", args=[grant.pk]),
        "replacing": [],
        "replaced_by": [],
        "parent": None,
        "children": [],
        "created": _when(grant.created),
        "modified": _when(grant.modified),
        "not_before": None,
        "not_after": _when(grant.expires),
        "eta": None,
        "expires": _when(grant.expires),
        "status": status,
        "client_id": grant.client.client_id,
        "scope": grant.scope,
        "authorization_details": grant.authorization_details,
        # Receipts (consent/) name their grant; the oldest approval first.
        "receipt_confirmations": [
            r.confirmation for r in sorted(grant.receipts.all(), key=lambda r: (r.created, r.pk))
        ],
        "enabled_scope": grant.scope if enabled else "",
        "enabled_authorization_details": grant.authorization_details if enabled else [],
    }


class Scopes(Filter):
    """``scopes``: grants holding one of the scope ids, or an entry of that type."""

    param = "scopes"

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        wanted = set(value)
        matching = [
            pk
            for pk, scope, details in rows.values_list("pk", "scope", "authorization_details")
            if wanted & (set(scope.split()) | {e.get("type") for e in details})
        ]
        return rows.filter(pk__in=matching)


class Statuses(Filter):
    """``statuses``: by the status the Grant object shows (see ``Grant.shown_status``)."""

    param = "statuses"

    def parse(self, raw: str) -> list[str]:
        return parse_list(self.param, raw)

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        now = timezone.now()
        wanted = set(value)
        matching = [
            g.pk for g in rows.select_related("administers") if g.shown_status(now) in wanted
        ]
        return rows.filter(pk__in=matching)


class Receipts(IdList):
    """``receipt_confirmations``: grants with a receipt of one of these numbers."""

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        return rows.filter(
            pk__in=Grant.objects.filter(receipts__confirmation__in=value).values("pk")
        )


class Nothing(IdList):
    """A filter on something this server's grants never have (``parents``: no sub-grants
    here): it matches nothing."""

    def apply(self, rows: QuerySet, value: list[str], rule: Any) -> QuerySet:
        return rows.none()


class ClientAdminView(CdsListView):
    """What both Grants API views share: a ``cds_client_admin`` token, the client's grants."""

    parser_classes = [StrictJSONParser]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    def own_grants(self, request: Request) -> QuerySet[Grant]:
        token = request.auth
        if CLIENT_ADMIN.id not in token.scope.split():
            raise InsufficientScope(f"the Grants API needs a {CLIENT_ADMIN.id} token")
        return (
            Grant.objects.filter(client=token.application)
            .select_related("client", "administers")
            .prefetch_related("receipts")
        )


class GrantsView(ClientAdminView):
    """``GET /cds-api/v1/grants`` (WG1-02 §8.4)."""

    filters = (
        IdList("grant_ids", "pk"),
        Nothing("parents", "pk"),
        Statuses(),
        IdList("client_ids", "client__client_id"),
        Scopes(),
        Receipts("receipt_confirmations", "receipts__confirmation"),
        DateTimeBound("after", "created__gte"),
        DateTimeBound("before", "created__lte"),
    )

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.query_params(request)
        rows = self.own_grants(request).order_by("-modified", "pk")
        for flt in self.filters:
            if flt.param in params:
                rows = flt.apply(rows, flt.parse(params[flt.param]), None)
        page = paginate(rows, params, request)
        now = timezone.now()
        items = [grant_object(g, now) for g in page.rows]
        return Response({"grants": items, "next": page.next, "previous": page.previous})


class GrantView(ClientAdminView):
    """``GET`` and ``PATCH /cds-api/v1/grants/<grant_id>`` (WG1-02 §8.4, §8.6)."""

    http_method_names = ["get", "head", "patch"]

    def grant(self, request: Request, grant_id: str) -> Grant:
        found = self.own_grants(request).filter(pk=grant_id).first()
        if found is None:
            raise NotFound("no grant of this client has that id")
        return found

    def get(self, request: Request, grant_id: str) -> Response:
        self.query_params(request)
        return Response(grant_object(self.grant(request, grant_id)))

    def patch(self, request: Request, grant_id: str) -> Response:
        self.query_params(request)
        grant = self.grant(request, grant_id)
        changes = request.data
        if not isinstance(changes, dict):
            raise InvalidRequest("expected a JSON object of the fields to change")
        if "status" in changes and changes["status"] != Grant.Status.CLOSED:
            raise InvalidRequest(f"status: only 'closed' may be set, got {changes['status']!r}")
        status = changes.get("status", grant.status)
        scope = changes.get("scope", grant.scope)
        narrowing = isinstance(scope, str) and set(scope.split()) != set(grant.scopes)
        changing = status != grant.status or narrowing
        if grant.status in Grant.FINAL and changing:
            raise InvalidRequest(f"the grant is {grant.status}; it cannot change")
        try:
            if "scope" in changes:
                if not isinstance(changes["scope"], str):
                    raise InvalidRequest("scope: expected a space-separated string")
                if set(changes["scope"].split()) != set(grant.scopes):
                    lifecycle.reduce_scope(grant, changes["scope"])
            details = changes.get("authorization_details")
            if details is not None and details != grant.authorization_details:
                if grant.status in Grant.FINAL:
                    raise InvalidRequest(f"the grant is {grant.status}; it cannot change")
                lifecycle.narrow_details(grant, details)
            if status == Grant.Status.CLOSED and grant.status != Grant.Status.CLOSED:
                lifecycle.close_grant(grant)
        except (lifecycle.GrantError, ad.InvalidAuthorizationDetails) as exc:
            raise InvalidRequest(str(exc)) from None
        grant.refresh_from_db()
        return Response(grant_object(grant))
