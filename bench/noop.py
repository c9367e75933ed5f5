"""The benchmark's no-op endpoint: the fixed cost F of an authenticated request.

It goes through everything every Customer Data API endpoint goes through (middleware,
authentication, the rate limit, the policy, parameter checks, rendering, the access log)
and serves nothing. ``make bench`` serves it beside the real endpoints (``urlpatterns``).
"""

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from cdsapi.api.views import CdsListView
from cdsapi.urls import API
from cdsapi.urls import urlpatterns as served


class NoopView(CdsListView):
    envelope = "noop"
    rule = "accounts_rule"

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.query_params(request)
        self.policy(request)
        return Response({self.envelope: [], "next": None, "previous": None})


urlpatterns = [*served, path(f"{API}noop", NoopView.as_view(), name="bench-noop")]
