from django.contrib import admin
from django.urls import include, path

from accounts.views import (
    AccountsView,
    MeterDevicesView,
    ServiceContractsView,
    ServicePointsView,
)
from bills.views import BillSectionsView, BillStatementsView
from cdsapi import health, metadata
from cdsapi.api.schema import DocsView, SchemaView
from cdsapi.grants import oauth_views
from cdsapi.grants.api import GrantsView, GrantView
from usage.views import UsageSegmentsView

API = "cds-customerdata-api/v1/"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", metadata.index, name="index"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("consent.urls")),
    path("oauth/token", oauth_views.TokenView.as_view(), name="oauth-token"),
    path("oauth/revoke_token", oauth_views.RevokeTokenView.as_view(), name="oauth-revoke"),
    path("oauth/introspect", oauth_views.IntrospectView.as_view(), name="oauth-introspect"),
    path(
        ".well-known/cds-server-metadata.json",
        metadata.server_metadata,
        name="cds-server-metadata",
    ),
    path(".well-known/oauth-authorization-server", metadata.oauth_metadata, name="oauth-metadata"),
    path("cds-api/v1/grants", GrantsView.as_view(), name="cds-grants"),
    path("cds-api/v1/grants/<str:grant_id>", GrantView.as_view(), name="cds-grant"),
    path(f"{API}accounts", AccountsView.as_view(), name="cds-accounts"),
    path(f"{API}service-contracts", ServiceContractsView.as_view(), name="cds-service-contracts"),
    path(f"{API}service-points", ServicePointsView.as_view(), name="cds-service-points"),
    path(f"{API}meter-devices", MeterDevicesView.as_view(), name="cds-meter-devices"),
    path(f"{API}bill-statements", BillStatementsView.as_view(), name="cds-bill-statements"),
    path(f"{API}bill-sections", BillSectionsView.as_view(), name="cds-bill-sections"),
    path(f"{API}usage-segments", UsageSegmentsView.as_view(), name="cds-usage-segments"),
    path(f"{API}schema", SchemaView.as_view(), name="cds-schema"),
    path(f"{API}docs", DocsView.as_view(url_name="cds-schema"), name="cds-docs"),
]

handler400 = "cdsapi.api.exceptions.bad_request"
handler404 = "cdsapi.api.exceptions.not_found"
handler500 = "cdsapi.api.exceptions.server_error"
