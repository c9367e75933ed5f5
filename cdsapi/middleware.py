"""Request-wide settings that are not the API's business."""

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class AdminTimezone:
    """The admin shows times in the utility's zone (``CDS_TIMEZONE``), as its staff read
    them; everything stored and served stays UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.zone = ZoneInfo(settings.CDS_TIMEZONE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        with timezone.override(self.zone):
            return self.get_response(request)
