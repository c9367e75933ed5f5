"""What the consent flow keeps: pushed authorization requests and receipts."""

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from cdsapi.fields import ExactJSONField
from cdsapi.models import Grant

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def new_request_uri() -> str:
    return f"{REQUEST_URI_PREFIX}{secrets.token_urlsafe(24)}"


class PushedRequest(models.Model):
    """An authorization request pushed to ``/oauth/par`` (RFC 9126): its parameters, kept
    until the customer decides or it expires; used once."""

    request_uri = models.CharField(primary_key=True, max_length=96, default=new_request_uri)
    client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    params = ExactJSONField(default=dict)
    expires = models.DateTimeField()

    def __str__(self) -> str:
        return self.request_uri

    def is_live(self, now: datetime | None = None) -> bool:
        return self.expires > (now or timezone.now())


def new_receipt_key() -> str:
    return secrets.token_urlsafe(32)


def new_confirmation() -> str:
    """A number a person can read out on the phone: ``CDS-`` and 10 characters of a
    32-letter alphabet without 0/O or 1/I (50 bits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    code = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"CDS-{code[:5]}-{code[5:]}"


class Receipt(models.Model):
    """An authorization receipt (CDS-WG3-01 §9.4): what the customer approved, frozen at
    approval. Its page lives at a random key unrelated to the confirmation number, loads
    without login and offers revocation."""

    key = models.CharField(max_length=64, unique=True, default=new_receipt_key, editable=False)
    confirmation = models.CharField(
        max_length=20, unique=True, default=new_confirmation, editable=False
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="receipts")
    created = models.DateTimeField(default=timezone.now)
    client_name = models.CharField(max_length=255)
    client_uri = models.URLField(blank=True)
    scope = models.CharField(max_length=1024)
    authorization_details = ExactJSONField(default=list)
    selection = ExactJSONField(
        default=dict,
        help_text='What was shared: {"type", "include_future", "items": [{"id", "label"}]}.',
    )
    terms_uri = models.URLField(blank=True)
    superseded_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return self.confirmation

    def approved(self) -> dict[str, Any]:
        """What the customer approved, as recorded."""
        return {
            "scope": self.scope,
            "authorization_details": self.authorization_details,
            "selection": self.selection,
        }
