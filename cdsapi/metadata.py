"""Discovery documents, generated from the scope registry and the URL conf so that what is
advertised cannot drift from what is enforced:

- ``/.well-known/cds-server-metadata.json``: the CDS server metadata (CDS-WG1-01 §3, with
  the ``oauth`` capability and ``oauth_metadata`` of CDS-WG1-02 §3.1);
- ``/.well-known/oauth-authorization-server``: RFC 8414 authorization-server metadata with
  the CDS-WG1-02 §3.2 and CDS-WG3-01 §5 fields.

Every URL is absolute, built from the ``CDS_ISSUER`` setting. Both are public and cacheable
(an ``ETag`` answers a repeated request with 304).
"""

import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt

from cdsapi import __version__
from cdsapi.grants import scopes
from cdsapi.grants.details import GRANT_ADMIN as GRANT_ADMIN_REQUEST
from cdsapi.grants.oauth_views import TokenView

VERSION = "v1"
CACHE_SECONDS = 300

# The Customer Data APIs by metadata key (WG3 §5; the bill keys are singular upstream).
API_URLS = {
    "cds_accounts_api": "cds-accounts",
    "cds_servicecontracts_api": "cds-service-contracts",
    "cds_servicepoints_api": "cds-service-points",
    "cds_meterdevices_api": "cds-meter-devices",
    "cds_billstatement_api": "cds-bill-statements",
    "cds_billsection_api": "cds-bill-sections",
    "cds_usagesegments_api": "cds-usage-segments",
}


def url(name: str) -> str:
    return settings.CDS_ISSUER + reverse(name)


def _union(key: str, described: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(v for scope in described for v in scope[key]))


def _served(name: str) -> bool:
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def authorization_server() -> dict[str, Any]:
    """RFC 8414 metadata with the CDS fields. The per-scope unions come from the registry,
    cut to what is served: the grant types the token endpoint offers, and the code flow
    (response types, PKCE methods) only once an authorization endpoint exists."""
    described = scopes.as_json()
    values = list(described.values())
    code_flow = _served("oauth-authorize")
    found: dict[str, Any] = {
        "issuer": settings.CDS_ISSUER,
        **(
            {
                "authorization_endpoint": url("oauth-authorize"),
                "pushed_authorization_request_endpoint": url("oauth-par"),
                "require_pushed_authorization_requests": False,
                "authorization_response_iss_parameter_supported": True,
            }
            if code_flow
            else {}
        ),
        "token_endpoint": url("oauth-token"),
        "revocation_endpoint": url("oauth-revoke"),
        "introspection_endpoint": url("oauth-introspect"),
        "cds_grants_api": url("cds-grants"),
        "scopes_supported": list(described),
        "response_types_supported": _union("response_types_supported", values) if code_flow else [],
        "grant_types_supported": [
            g for g in _union("grant_types_supported", values) if g in TokenView.grant_types
        ],
        "token_endpoint_auth_methods_supported": _union(
            "token_endpoint_auth_methods_supported", values
        ),
        "code_challenge_methods_supported": _union("code_challenge_methods_supported", values)
        if code_flow
        else [],
        # Plus this server's own request type naming a server-created grant.
        "authorization_details_types_supported": [
            *_union("authorization_details_types_supported", values),
            GRANT_ADMIN_REQUEST,
        ],
        "cds_oauth_version": VERSION,
        "cds_customerdata_version": VERSION,
        "cds_timezone": settings.CDS_TIMEZONE,
        **{key: url(name) for key, name in API_URLS.items()},
        "cds_usagesegments_additional_value_types": {},
        "cds_registration_fields": {},
        "cds_scope_descriptions": described,
    }
    optional = {
        "service_documentation": settings.CDS_DOCUMENTATION,
        "op_policy_uri": settings.CDS_OP_POLICY_URI,
        "op_tos_uri": settings.CDS_OP_TOS_URI,
    }
    found.update({key: value for key, value in optional.items() if value})
    return found


def server() -> dict[str, Any]:
    """The CDS server metadata document (WG1-01 §3.2)."""
    return {
        "cds_metadata_version": VERSION,
        "cds_metadata_url": url("cds-server-metadata"),
        "created": settings.CDS_METADATA_CREATED,
        "updated": settings.CDS_METADATA_CREATED,
        "name": settings.CDS_SERVER_NAME,
        "description": settings.CDS_SERVER_DESCRIPTION,
        "website": settings.CDS_WEBSITE,
        "documentation": settings.CDS_DOCUMENTATION,
        "support": settings.CDS_SUPPORT,
        "capabilities": ["oauth"],
        "software_version": __version__,
        "oauth_metadata": url("oauth-metadata"),
        "related_metadata": [],
    }


def _document(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"error": "invalid_request", "error_description": f"{request.method} is not allowed"},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    text = json.dumps(body, indent=2)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    asked = request.headers.get("If-None-Match", "")
    if etag in asked or asked.strip() == "*":
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(text, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response


@csrf_exempt
@login_not_required
def server_metadata(request: HttpRequest) -> HttpResponse:
    return _document(request, server())


@csrf_exempt
@login_not_required
def oauth_metadata(request: HttpRequest) -> HttpResponse:
    return _document(request, authorization_server())


@csrf_exempt
@login_not_required
def index(request: HttpRequest) -> HttpResponse:
    """The issuer's root: where the discovery documents are (the default website,
    documentation and support URL, until an operator sets real ones)."""
    return _document(
        request,
        {
            "name": settings.CDS_SERVER_NAME,
            "description": settings.CDS_SERVER_DESCRIPTION,
            "cds_server_metadata": url("cds-server-metadata"),
            "oauth_metadata": url("oauth-metadata"),
        },
    )
