"""Pieces every admin here shares: readable labels and columns, typed list filters, the
labelled autocomplete, read-only admins for imported data, and the shown-once page."""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

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


def shown_once(request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
    """A page showing secrets or tokens once (only their hashes are kept): never cached."""
    response = TemplateResponse(
        request,
        f"admin/cdsapi/{template}",
        {**admin.site.each_context(request), "title": title, **context},
    )
    response["Cache-Control"] = "no-store"
    return response
