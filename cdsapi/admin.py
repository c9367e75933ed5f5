"""Admin for grants, and pieces shared by the data apps' admins."""

import json
import secrets
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from cdsapi.grants import entry_form, lifecycle
from cdsapi.grants.details import InvalidAuthorizationDetails
from cdsapi.grants.scopes import registry
from cdsapi.models import Application, DirectAccess, Grant, IDToken


def column(field: str, label: str) -> Callable[[Any], Any]:
    """A list column showing ``field`` under a readable label ("Account ID", not "Cds
    account id"), sortable by it."""

    @admin.display(description=label, ordering=field)
    def show(obj: Any) -> Any:
        return getattr(obj, field)

    return show


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that shows rows and never adds, changes or deletes them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ImportedDataAdmin(ReadOnlyAdmin):
    """Read-only admin for data that ``cds_import`` owns.

    Edits would bypass the import's validation and its version history, so the admin shows
    the data and leaves changes to the import.
    """


class ImportedDataInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GrantFormBase(forms.ModelForm):
    """Validates through ``lifecycle.validate_grant``, like the CLI and the OAuth endpoints.
    The entries come from the generated per-scope fields (``entry_form``), or from the JSON
    when that is what the operator edited."""

    authorization_details = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80}),
        help_text='JSON array, e.g. [{"type": "cds_bill_statements", "flavor": "usage_only", '
        '"statement_date_start": "P1Y"}]. Used when you edit it; otherwise the scopes ticked '
        "above make it. Relative values are resolved when you save.",
    )
    scope = forms.CharField(
        required=False, help_text="Space-separated; leave empty for the entries' types."
    )
    expires = forms.CharField(
        required=False,
        help_text="An RFC 3339 date and time, a duration such as P90D, or empty for never.",
    )

    class Meta:
        model = Grant
        fields = [
            "client",
            "customer",
            "accounts",
            "scope",
            "authorization_details",
            "status",
            "expires",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            details = self.instance.authorization_details
            self.initial["authorization_details"] = json.dumps(details, indent=2)
            self.initial.update(entry_form.initial_from(details))
            expires = self.instance.expires
            self.initial["expires"] = expires.isoformat() if expires else ""

    def clean_expires(self) -> Any:
        try:
            return lifecycle.parse_expires(self.cleaned_data.get("expires") or None)
        except lifecycle.GrantError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        details: Any = cleaned.get("authorization_details")
        if "authorization_details" not in self.changed_data or not details:
            details = entry_form.details_from(cleaned)
            if not details:
                self.add_error(None, "tick a scope to share (or give the JSON)")
                return cleaned
        try:
            spec = lifecycle.validate_grant(
                [a.cds_account_id for a in cleaned.get("accounts", [])],
                details,
                scope=cleaned.get("scope") or None,
                # An unchanged expiry of an existing grant is not checked again.
                expires=cleaned.get("expires")
                if self.instance._state.adding or "expires" in self.changed_data
                else None,
                customer=cleaned.get("customer"),
                client=cleaned.get("client"),
            )
        except InvalidAuthorizationDetails as exc:
            self.add_error("authorization_details", f"invalid_authorization_details: {exc}")
        except lifecycle.GrantError as exc:
            field = str(exc).split(":", 1)[0]
            self.add_error(field if field in self.fields else None, str(exc))
        else:
            cleaned["scope"] = spec.scope
            cleaned["authorization_details"] = spec.authorization_details
            if spec.expires is not None:
                cleaned["expires"] = spec.expires
        return cleaned


GrantForm = type("GrantForm", (GrantFormBase,), entry_form.declared_fields())


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    form = GrantForm
    list_display = ["id", "client", "customer", "shared_accounts", "types", "status", "expires"]
    list_select_related = ["client", "customer"]
    autocomplete_fields = ["accounts"]
    list_filter = ["status", "client", "created"]
    search_fields = [
        "id",
        "client__name",
        "client__client_id",
        "customer__username",
        "accounts__cds_account_id",
    ]
    readonly_fields = ["id", "created", "modified"]
    actions = ["revoke", "issue_token"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [
            (None, {"fields": ["client", "customer", "accounts", "status", "expires"]}),
            *entry_form.fieldsets(),
            (
                "JSON (for power users)",
                {"classes": ["collapse"], "fields": ["scope", "authorization_details"]},
            ),
            ("Record", {"fields": ["id", "created", "modified"]}),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Grant]:
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description="Accounts")
    def shared_accounts(self, obj: Grant) -> str:
        return ", ".join(a.cds_account_id for a in obj.accounts.all()) or "-"

    @admin.display(description="Types")
    def types(self, obj: Grant) -> str:
        return ", ".join(e.get("type", "") for e in obj.authorization_details) or "-"

    @admin.action(description="Issue a token for the selected grants (shown once)")
    def issue_token(self, request: HttpRequest, queryset: QuerySet[Grant]) -> Any:
        issued = []
        for grant in queryset.select_related("client"):
            if grant.is_active():
                token, seconds = lifecycle.issue_token(grant)
                issued.append((grant, token, seconds))
        return shown_once(request, "issued_tokens.html", "Access tokens", issued=issued)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """The grant, also when an older id holding ``_`` and two hex digits was typed into
        the URL (the admin would unquote ``grt_3F...`` to ``grt?...``)."""
        found = super().get_object(request, object_id, from_field)
        typed = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if found is None and typed:
            found = self.get_queryset(request).filter(pk=typed).first()
        return found

    @admin.action(description="Revoke the selected grants (their tokens stop at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
        for grant in queryset:
            lifecycle.revoke_grant(grant)
        self.message_user(request, f"Revoked {queryset.count()} grant(s).", messages.SUCCESS)


class DirectAccessForm(forms.ModelForm):
    class Meta:
        model = DirectAccess
        fields = ["client", "scope", "all_accounts", "accounts"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        client = cleaned.get("client")
        if client is not None and "scope" in cleaned:
            try:
                lifecycle.check_direct_access(client, cleaned["scope"].split())
            except lifecycle.GrantError as exc:
                field, _, message = str(exc).partition(": ")
                self.add_error(field if field in self.fields else None, message)
        if not cleaned.get("all_accounts") and not cleaned.get("accounts"):
            self.add_error("accounts", "choose the base set of accounts, or allow all accounts")
        return cleaned


@admin.register(DirectAccess)
class DirectAccessAdmin(admin.ModelAdmin):
    """A client's direct-access scopes and base set (CDS-WG3-01 §6.2)."""

    form = DirectAccessForm
    list_display = ["client", "scope", "all_accounts"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        lifecycle.revoke_withdrawn(form.instance.client, set(form.instance.scopes))

    def delete_model(self, request: HttpRequest, obj: DirectAccess) -> None:
        super().delete_model(request, obj)
        lifecycle.revoke_withdrawn(obj.client, set())

    search_fields = ["client__name", "client__client_id", "scope"]
    filter_horizontal = ["accounts"]


# The vocabularies grants hold (direct access and the admin scopes are enabled elsewhere).
GRANTED_FAMILIES = frozenset({"seed", "consent"})


class ClientForm(forms.ModelForm):
    """What a client is here: who it is, how it authenticates, where consent sends it back."""

    client_uri = forms.URLField(
        required=False, assume_scheme="https", help_text="The recipient's home page."
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

    def clean_cds_enabled_scopes(self) -> str:
        return " ".join(self.cleaned_data["cds_enabled_scopes"])


def shown_once(request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
    """A page showing secrets or tokens once (only their hashes are kept): never cached."""
    response = TemplateResponse(
        request,
        f"admin/cdsapi/{template}",
        {**admin.site.each_context(request), "title": title, **context},
    )
    response["Cache-Control"] = "no-store"
    return response


def _secret_page(request: HttpRequest, shown: list[tuple[Application, str]]) -> HttpResponse:
    return shown_once(request, "client_secrets.html", "Client secrets", shown=shown)


class ClientAdmin(admin.ModelAdmin):
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
