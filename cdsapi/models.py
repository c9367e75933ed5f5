"""The grant core's models, and the metadata every CDS object model shares."""

import base64
import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from oauth2_provider import models as oauth2_models

from cdsapi.fields import ExactJSONField


class CdsObject(models.Model):
    """The metadata every CDS top-level object carries (CDS-WG3-01 §10, common fields)."""

    cds_created = models.DateTimeField()
    cds_modified = models.DateTimeField()
    cds_synced = models.DateTimeField()

    class Meta:
        abstract = True


def new_grant_id() -> str:
    """``grt-`` and 16 base32 letters and digits (80 random bits). No ``_``: the admin reads
    ``_`` and two hex digits in a URL as an escape, so ``grt_3F...`` came back as ``grt?...``.
    Ids minted before (``grt_`` and URL-safe base64) keep working."""
    return "grt-" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


class Grant(models.Model):
    """The unit of permission (SPEC §2): a client's access to selected accounts under
    RFC 9396 ``authorization_details``, which are stored absolute, never relative.

    The grant is read on every request, so revoking, suspending or expiring it takes effect
    on the next call, whatever tokens were issued.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"
        CLOSED = "closed"
        EXPIRED = "expired"
        SUSPENDED = "suspended"

    id = models.CharField(primary_key=True, max_length=32, default=new_grant_id, editable=False)
    client = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="cds_grants",
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cds_grants",
        help_text="The customer who consented, if any.",
    )
    accounts = models.ManyToManyField(
        "accounts.Account", related_name="cds_grants", help_text="The selected accounts."
    )
    scope = models.CharField(max_length=255)
    authorization_details = ExactJSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    expires = models.DateTimeField(null=True, blank=True)
    administers = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="admin_grants",
        help_text="For a grant-admin grant (WG1-02 §3.3.2): the grant it administers and "
        "reads through.",
    )
    selection = ExactJSONField(
        null=True,
        blank=True,
        help_text="What the customer picked on the consent page (WG3 §9.2): "
        '{"type": <selection type>, "ids": [...], "include_future": bool}. Empty for a grant '
        "an operator made, which covers its accounts whole.",
    )

    FINAL = frozenset({Status.REVOKED, Status.CLOSED})

    class Meta:
        ordering = ["-created"]
        permissions = [("preview_grant", "Can preview what a grant shows")]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Revoking (by the customer or operator) and closing (by the client) are final: such
        a grant cannot be made active again, and its tokens are expired at once, so no token
        issued before works ever again."""
        stored = self._stored_status()
        if stored in self.FINAL and self.status != stored:
            raise ValidationError(f"grant {self.pk} is {stored}; that is final")
        with transaction.atomic():
            super().save(*args, **kwargs)
            if self.status in self.FINAL and stored not in self.FINAL:
                now = timezone.now()
                self.access_tokens.filter(expires__gt=now).update(expires=now)
                self.refresh_tokens.filter(revoked__isnull=True).update(revoked=now)

    def clean(self) -> None:
        stored = self._stored_status()
        if stored in self.FINAL and self.status != stored:
            raise ValidationError(
                {"status": f"a {stored} grant stays {stored}; the client needs a new grant"}
            )

    def _stored_status(self) -> str | None:
        if self._state.adding:
            return None
        return Grant.objects.filter(pk=self.pk).values_list("status", flat=True).first()

    def is_active(self, now: datetime | None = None) -> bool:
        """Whether the grant gives access now: active and not past ``expires`` (a grant-admin
        grant also needs the grant it administers to be active)."""
        now = now or timezone.now()
        own = self.status == self.Status.ACTIVE and (self.expires is None or self.expires > now)
        return own and (self.administers is None or self.administers.is_active(now))

    def shown_status(self, now: datetime | None = None) -> str:
        """The status as shown (Grants API, receipts, the customer's page): ``expired`` once
        past ``expires``; a grant-admin grant whose administered grant ended shows how that
        one ended."""
        now = now or timezone.now()
        if self.status != self.Status.ACTIVE:
            return self.status
        if self.expires is not None and self.expires <= now:
            return self.Status.EXPIRED
        if self.administers is not None:
            return self.administers.shown_status(now)
        return self.status

    @property
    def data_grant(self) -> "Grant":
        """The grant whose data this grant's tokens read: itself, or the administered one."""
        return self.administers or self

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()

    def selected_accounts(self) -> tuple[tuple[int, str], ...]:
        """``(pk, cds_account_id)`` of the selected accounts: as read with the request's
        token (``cdsapi.grants.oauth``, one query fewer per request), else read now."""
        read = getattr(self, "cds_account_rows", None)
        if read is not None:
            return read
        return tuple(self.accounts.order_by().values_list("pk", "cds_account_id"))


class DirectAccess(models.Model):
    """A client's direct access (CDS-WG3-01 §6.2): the ``cds_query_*`` scopes it may ask for
    with ``client_credentials``, and its base set of accounts, the ceiling of every grant it
    gets that way whatever its preselections say. Read on every request, so narrowing it
    takes effect at once."""

    client = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="direct_access",
    )
    scope = models.CharField(
        max_length=1024, help_text="The direct-access scope ids enabled, space-separated."
    )
    all_accounts = models.BooleanField(
        default=False, help_text="The base set is every account, present and future."
    )
    accounts = models.ManyToManyField(
        "accounts.Account",
        blank=True,
        related_name="direct_access",
        help_text="The base set (ignored when all accounts are allowed).",
    )

    class Meta:
        verbose_name_plural = "direct access"

    def __str__(self) -> str:
        return f"direct access of {self.client}"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


# django-oauth-toolkit models, swapped in so that every token carries its grant. All five
# are swapped together: DOT's own migrations would otherwise depend on ours in a cycle.


class Application(oauth2_models.AbstractApplication):
    """A data recipient (an OAuth client), with what WG1-02 §5.1 adds for the consent flow."""

    client_uri = models.URLField(
        blank=True, help_text="The recipient's home page, linked on consent pages and receipts."
    )
    cds_default_scope = models.CharField(
        max_length=1024,
        blank=True,
        help_text="Scopes an authorization request without `scope` asks for (space-separated).",
    )
    cds_default_authorization_details = ExactJSONField(
        null=True,
        blank=True,
        help_text="authorization_details an authorization request without them asks for.",
    )
    cds_enabled_scopes = models.CharField(
        "enabled scopes",
        max_length=1024,
        blank=True,
        help_text="Scopes new grants to this client may hold (space-separated); empty: every "
        "scope this server offers.",
    )

    class Meta(oauth2_models.AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "client"

    def not_enabled(self, scopes: list[str]) -> list[str]:
        """Those of ``scopes`` the operator has not enabled for this client."""
        enabled = self.cds_enabled_scopes.split()
        return [s for s in scopes if s not in enabled] if enabled else []

    @property
    def default_redirect_uri(self) -> str:
        """The server-hosted redirect URI every consent client has (WG1-02 §5.1): it ends
        the flow on the receipt."""
        return settings.CDS_ISSUER + reverse("consent-default-redirect", args=[self.client_id])


class AuthorizationCode(oauth2_models.AbstractGrant):
    """An OAuth authorization code (DOT's "Grant"; not to be confused with ``Grant``)."""

    cds_grant = models.ForeignKey(Grant, on_delete=models.CASCADE, null=True, blank=True)
    spent = models.BooleanField(
        default=False,
        help_text="Exchanged for a token. Kept (until it expires) so that a replay is seen.",
    )

    class Meta(oauth2_models.AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class AccessToken(oauth2_models.AbstractAccessToken):
    cds_grant = models.ForeignKey(
        Grant,
        on_delete=models.CASCADE,
        related_name="access_tokens",
        help_text="The grant this token exercises; every token has exactly one.",
    )

    class Meta(oauth2_models.AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(oauth2_models.AbstractRefreshToken):
    cds_grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")

    class Meta(oauth2_models.AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class IDToken(oauth2_models.AbstractIDToken):
    class Meta(oauth2_models.AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"
