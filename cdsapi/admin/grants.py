"""Grants in the admin: the form without JSON (``cdsapi.grants.entry_form``), the list and
its filters, the actions (revoke, issue a token) and the preview; direct access."""

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts.models import Account
from cdsapi.admin.base import column, shown_once
from cdsapi.grants import entry_form, lifecycle, preview, summary
from cdsapi.grants.details import InvalidAuthorizationDetails
from cdsapi.grants.policy import encryption_key
from cdsapi.models import (
    DirectAccess,
    Grant,
)


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
