"""Admin for grants, and pieces shared by the data apps' admins."""

import json
import secrets
from collections.abc import Callable
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts.models import Account
from cdsapi.grants import entry_form, lifecycle, preview, summary
from cdsapi.grants.details import InvalidAuthorizationDetails
from cdsapi.grants.policy import encryption_key
from cdsapi.grants.scopes import registry
from cdsapi.models import (
    AccessToken,
    Application,
    AuthorizationCode,
    DirectAccess,
    Grant,
    IDToken,
    RefreshToken,
)

# Run-together words of field names, as an operator reads them.
_WORDS = (
    ("servicecontract", "service contract"),
    ("servicepoint", "service point"),
    ("meterdevice", "meter"),
    ("billstatement", "bill statement"),
    ("billsection", "bill section"),
    ("usagesegment", "usage segment"),
    ("rateplan", "rate plan"),
    ("mimetype", "MIME type"),
)
_ABBREVIATIONS = {"id": "ID", "uri": "URI", "json": "JSON"}


def readable(name: str) -> str:
    """A field name as an operator reads it: "Service contract ID" for
    ``cds_servicecontract_id``, "Current service points" for ``current_servicepoints``."""
    for joined, spaced in _WORDS:
        name = name.replace(joined, spaced)
    words = [_ABBREVIATIONS.get(w, w) for w in name.removeprefix("cds_").split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def column(field: str, label: str | None = None) -> Callable[[Any], Any]:
    """A list column showing ``field`` under a readable label ("Account ID", not "Cds
    account id"; by default ``readable(field)``), sortable by it."""

    @admin.display(description=label or readable(field), ordering=field)
    def show(obj: Any) -> Any:
        return getattr(obj, field)

    show.__name__ = field  # the column's CSS class: column-<field>
    return show


@cache
def readable_labels(model: type[Model]) -> dict[str, str]:
    """Labels for the fields of ``model`` whose verbose name is just their name spelled out
    ("cds servicecontract id", "cds grant"): ``readable(name)`` instead. Verbose names stay
    as they are in the models (changing one would need a migration)."""
    found = {}
    for field in model._meta.get_fields():
        verbose = str(getattr(field, "verbose_name", ""))
        label = readable(field.name)
        if verbose == field.name.replace("_", " ") and label != verbose[:1].upper() + verbose[1:]:
            found[field.name] = label
    return found


class ReadableLabels:
    """Admin forms, read-only pages and inlines whose labels read as an operator reads them
    (``readable_labels``), through the form's ``Meta.labels``, which read-only fields use
    too."""

    model: type[Model]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["labels"] = {**readable_labels(self.model), **(kwargs.get("labels") or {})}
        return super().get_form(request, obj, **kwargs)  # type: ignore[misc]

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["labels"] = {**readable_labels(self.model), **(kwargs.get("labels") or {})}
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]


class InputFilter(admin.SimpleListFilter):
    """A list filter typed in rather than picked, for lists too long to offer (thousands of
    accounts or meters): rows whose ``paths`` (any of them) equal the value typed.

    Make one with ``input_filter``; its box is ``admin/cdsapi/input_filter.html``.
    """

    template = "admin/cdsapi/input_filter.html"
    paths: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        matching = Q()
        for lookup in self.paths:
            matching |= Q(**{lookup: value})
        if len(self.paths) == 1 and not _crosses_many(queryset.model, self.paths[0]):
            return queryset.filter(matching)
        # Through a many-valued link a row could match twice: match by primary key instead.
        return queryset.filter(pk__in=queryset.model._default_manager.filter(matching).values("pk"))

    def choices(self, changelist: Any) -> Any:
        yield {
            "parameter": self.parameter_name,
            "value": self.value() or "",
            "hidden": [
                (name, value)
                for name, values in changelist.filter_params.items()
                if name != self.parameter_name
                for value in values
            ],
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


def _crosses_many(model: type[Model], path: str) -> bool:
    """Whether a lookup path follows a many-to-many or reverse foreign key link."""
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if field.many_to_many or field.one_to_many:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


def input_filter(title: str, parameter: str, *paths: str) -> type[InputFilter]:
    """An ``InputFilter`` titled ``title`` (e.g. "Account ID"), read from ``?parameter=``,
    matching ``paths`` (e.g. ``account__cds_account_id``)."""
    return type(
        f"{parameter.title().replace('_', '')}Filter",
        (InputFilter,),
        {"title": title, "parameter_name": parameter, "paths": paths},
    )


class AutocompleteView(AutocompleteJsonView):
    """The admin's autocomplete, each result labelled by its model admin's
    ``autocomplete_label(obj)`` where it has one (``str(obj)`` elsewhere)."""

    def serialize_result(self, obj: Any, to_field_name: str) -> dict[str, str]:
        result = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "autocomplete_label", None)
        if label is not None:
            result["text"] = label(obj)
        return result


def _autocomplete_view(request: HttpRequest) -> HttpResponse:
    return AutocompleteView.as_view(admin_site=admin.site)(request)


# The site's own URL for it (``admin:autocomplete``) serves this view.
admin.site.autocomplete_view = _autocomplete_view  # type: ignore[method-assign]


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that shows rows and never adds, changes or deletes them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ImportedDataAdmin(ReadableLabels, ReadOnlyAdmin):
    """Read-only admin for data that ``cds_import`` owns.

    Edits would bypass the import's validation and its version history, so the admin shows
    the data and leaves changes to the import.
    """


class ImportedDataInline(ReadableLabels, admin.TabularInline):
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
        labels = {"id": "Grant ID"}
        fields = [
            "client",
            "customer",
            "accounts",
            "scope",
            "authorization_details",
            "status",
            "expires",
        ]
        help_texts = {
            "customer": "Only to record a customer's own consent: the grant then shows on "
            "their /my/grants page, where they can revoke it. Leave empty for a grant the "
            "utility makes. Choosing one narrows the account search to their accounts.",
        }

    class Media:
        # After jquery.init.js: the script hooks django.jQuery's ajax.
        js = ["admin/js/jquery.init.js", "cdsapi/grant_form.js"]
        css = {"all": ["cdsapi/grant_form.css"]}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = self.fields.get("accounts")
        if accounts is not None:
            # The chosen accounts read as the autocomplete offers them.
            account_admin = admin.site.get_model_admin(Account)
            accounts.queryset = account_admin.with_label_data(accounts.queryset)
            accounts.label_from_instance = account_admin.autocomplete_label
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


def _shown(status: str, now: Any, prefix: str = "") -> Q:
    """Grants whose own fields show ``status`` (``Grant.shown_status`` without the
    administered grant): an active grant past its expiry shows ``expired``."""
    live = Q(**{f"{prefix}expires__isnull": True}) | Q(**{f"{prefix}expires__gt": now})
    active = Q(**{f"{prefix}status": Grant.Status.ACTIVE})
    if status == Grant.Status.ACTIVE:
        return active & live
    if status == Grant.Status.EXPIRED:
        return Q(**{f"{prefix}status": Grant.Status.EXPIRED}) | (active & ~live)
    return Q(**{f"{prefix}status": status})


class GrantStatusFilter(admin.SimpleListFilter):
    """By the status a grant shows (``Grant.shown_status``), as the Status column does."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Grant.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> QuerySet[Grant]:
        if self.value() not in Grant.Status.values:
            return queryset
        now = timezone.now()
        # A grant-admin grant that is itself active shows the grant it administers.
        delegated = Q(administers__isnull=False) & _shown(Grant.Status.ACTIVE, now)
        return queryset.filter(
            (~delegated & _shown(self.value(), now))
            | (delegated & _shown(self.value(), now, "administers__"))
        )


class CustomerFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "has_customer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "A customer consented"), ("no", "No customer (operator-made)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> QuerySet[Grant]:
        if self.value() in ("yes", "no"):
            return queryset.filter(customer__isnull=self.value() == "no")
        return queryset


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("expired", "Expired"), ("active", "Not yet expired"), ("never", "Never expires")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> QuerySet[Grant]:
        now = timezone.now()
        return {
            "expired": lambda: queryset.filter(expires__lte=now),
            "active": lambda: queryset.filter(expires__gt=now),
            "never": lambda: queryset.filter(expires__isnull=True),
        }.get(self.value() or "", lambda: queryset)()


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    form = GrantForm
    list_display = [
        column("id", "Grant ID"),
        "client",
        "customer",
        "shared_accounts",
        "types",
        "status_shown",
        "expires",
    ]
    list_select_related = ["client", "customer", "administers"]
    autocomplete_fields = ["customer", "accounts"]
    list_filter = [GrantStatusFilter, "client", CustomerFilter, ExpiryFilter, "created"]
    search_fields = [
        "id",
        "client__name",
        "client__client_id",
        "customer__username",
        "customer__email",
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

    @admin.display(description="Status", ordering="status")
    def status_shown(self, obj: Grant) -> str:
        """As the Grants API shows it: ``expired`` once past ``expires``."""
        return obj.shown_status()

    @admin.action(description="Issue a token for the selected grants (shown once)")
    def issue_token(self, request: HttpRequest, queryset: QuerySet[Grant]) -> Any:
        issued = []
        for grant in queryset.select_related("client"):
            if grant.is_active():
                token, seconds = lifecycle.issue_token(grant)
                issued.append((grant, token, seconds))
                self.log_change(request, grant, f"Issued an access token ({seconds} s).")
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
    def revoke(self, request: HttpRequest, queryset: QuerySet[Grant]) -> Any:
        """Revoking is final: asked to confirm first (as deleting is), then recorded in each
        grant's history."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/cdsapi/grant/revoke_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Revoke these grants? This cannot be undone.",
                    "grants": queryset.select_related("client", "customer"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for grant in queryset:
            lifecycle.revoke_grant(grant)
            self.log_change(request, grant, "Revoked (its tokens stopped at once).")
        self.message_user(request, f"Revoked {queryset.count()} grant(s).", messages.SUCCESS)
        return None

    # -- the preview: what each endpoint returns for the grant now (cdsapi.grants.preview) --

    change_form_template = "admin/cdsapi/grant/change_form.html"  # adds the preview link

    def get_urls(self) -> list:
        preview_url = path(
            "<path:object_id>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="cdsapi_grant_preview",
        )
        return [preview_url, *super().get_urls()]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Loaded only when asked for, behind its own permission: it reads customer data."""
        if not request.user.has_perm(f"{self.opts.app_label}.preview_grant"):
            raise PermissionDenied
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        grant = self.get_object(request, unquote(object_id))
        if grant is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        endpoint = request.GET.get("endpoint")
        if endpoint is not None and endpoint not in preview.ENDPOINTS:
            raise Http404(f"no endpoint {endpoint!r}")
        response = TemplateResponse(
            request,
            "admin/cdsapi/grant/preview.html",
            {
                **self.admin_site.each_context(request),
                "title": f"What grant {grant.pk} shows",
                "opts": self.opts,
                "original": grant,
                "summary": summary.summarize(grant),
                "previews": preview.preview(
                    grant, request.user, (endpoint,) if endpoint else preview.ENDPOINTS
                ),
                "endpoints": preview.ENDPOINTS,
                "endpoint": endpoint,
                "issuer": settings.CDS_ISSUER,
                "encrypted": encryption_key(grant) is not None,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


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
