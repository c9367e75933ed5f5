"""Clients (data recipients) in the admin, and django-oauth-toolkit's models as they apply
here."""

import secrets
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from cdsapi.admin.base import ReadableLabels, shown_once
from cdsapi.grants.scopes import registry
from cdsapi.models import (
    AccessToken,
    Application,
    AuthorizationCode,
    IDToken,
    RefreshToken,
)

# The vocabularies grants hold (direct access and the admin scopes are enabled elsewhere).
GRANTED_FAMILIES = frozenset({"seed", "consent"})


class ClientForm(forms.ModelForm):
    """What a client is here: who it is, how it authenticates, where consent sends it back."""

    client_uri = forms.URLField(
        label="Website",
        required=False,
        assume_scheme="https",
        help_text="The recipient's home page.",
    )
    authorization_grant_type = forms.ChoiceField(
        label="Kind",
        choices=[
            (Application.GRANT_CLIENT_CREDENTIALS, "Server to server (operator-made grants)"),
            (Application.GRANT_AUTHORIZATION_CODE, "Asks customers for consent"),
        ],
    )

    cds_enabled_scopes = forms.MultipleChoiceField(
        label="Enabled scopes",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What new grants to this client may hold; none ticked: every scope. "
        "Existing grants keep what they hold (revoke them to stop them).",
    )

    class Meta:
        model = Application
        fields = [
            "name",
            "client_id",
            "client_type",
            "authorization_grant_type",
            "redirect_uris",
            "client_uri",
            "cds_enabled_scopes",
            "cds_default_scope",
            "cds_default_authorization_details",
        ]
        help_texts = {
            "redirect_uris": "Space-separated; needed to ask customers for consent.",
            "client_type": "Public: a browser or mobile app without a secret (consent only).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cds_enabled_scopes"].choices = [
            (scope.id, f"{scope.name} ({scope.id})")
            for scope in registry().values()
            if scope.family in GRANTED_FAMILIES
        ]
        self.initial["cds_enabled_scopes"] = self.instance.cds_enabled_scopes.split()
        if self.instance._state.adding:
            self.initial.setdefault("client_type", Application.CLIENT_CONFIDENTIAL)

    def clean_cds_enabled_scopes(self) -> str:
        return " ".join(self.cleaned_data["cds_enabled_scopes"])


def _secret_page(request: HttpRequest, shown: list[tuple[Application, str]]) -> HttpResponse:
    return shown_once(request, "client_secrets.html", "Client secrets", shown=shown)


class ClientAdmin(ReadableLabels, admin.ModelAdmin):
    """Clients (data recipients) with only what applies here; a secret is shown once, when
    the client is made or its secret rotated."""

    form = ClientForm
    list_display = ["name", "client_id", "client_type", "authorization_grant_type", "created"]
    list_filter = ["client_type", "authorization_grant_type"]
    search_fields = ["name", "client_id"]
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["client_id"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Application, form: Any, change: bool) -> None:
        if not change and obj.client_type == Application.CLIENT_CONFIDENTIAL:
            obj.client_secret = request._cds_new_secret = secrets.token_urlsafe(36)
        elif not change:
            obj.client_secret = ""
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Application, *args: Any) -> HttpResponse:
        secret = getattr(request, "_cds_new_secret", None)
        if secret is None:
            return super().response_add(request, obj, *args)
        return _secret_page(request, [(obj, secret)])

    @admin.action(description="Rotate the secret of the selected clients (shown once)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Application]) -> Any:
        shown = []
        for client in queryset.filter(client_type=Application.CLIENT_CONFIDENTIAL):
            secret = secrets.token_urlsafe(36)
            client.client_secret = secret
            client.save(update_fields=["client_secret", "updated"])
            shown.append((client, secret))
        return _secret_page(request, shown)


admin.site.unregister(Application)
admin.site.register(Application, ClientAdmin)
# No OpenID Connect here: ID tokens never exist.
admin.site.unregister(IDToken)
# django-oauth-toolkit's admins of the token models, labelled "Grant", not "Cds grant".
for _model in (AccessToken, AuthorizationCode, RefreshToken):
    _theirs = type(admin.site.get_model_admin(_model))
    admin.site.unregister(_model)
    admin.site.register(_model, type(_theirs.__name__, (ReadableLabels, _theirs), {}))
