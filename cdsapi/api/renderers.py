"""JSON rendering that writes every Decimal as the exact number literal it holds."""

from typing import Any

from rest_framework.renderers import BaseRenderer

from cdsapi import exactjson


class ExactJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        return exactjson.dumps(data).encode("utf-8")
