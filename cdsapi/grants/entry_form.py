"""Form fields for grant entries, generated from the scope registry, so that an operator makes
a grant by ticking and choosing rather than by typing JSON (the admin's grant form).

Each scope an operator may grant (seed and consent scopes) gets a "share" checkbox and one
field per entry field it keeps, by format: a checkbox for an include; for a window bound a
relative choice ("last 12 months", "today", "no limit", resolved when the grant is saved) or a
date from a date picker; a choice or checkboxes for choices, comma-separated text for string
lists. A blank field is left out of the entry, so the scope's default applies.
"""

import json
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminDateWidget, AdminTimeWidget

from cdsapi.grants.scopes import INFINITE, Field, ScopeDescription, registry
from cdsapi.grants.upstream import CONSENT_FORM_FIELDS, PRESELECTIONS
from cdsapi.times import format_datetime

USE = "use__"
CUSTOM = "custom"


def window_choices(field: Field) -> list[tuple[str, str]]:
    """The relative choices offered for a window bound, each a value ``details.resolve``
    takes: a duration back from now for a start, forward for an end (``looks``), ``P0D``
    for today (a date) or now (a datetime), ``infinite`` for no limit."""
    now = "today" if field.format.endswith("_date") else "now"
    if field.looks == "back":
        relative = [
            ("P3M", "last 3 months"),
            ("P1Y", "last 12 months"),
            ("P2Y", "last 24 months"),
            ("P0D", now),
        ]
    else:
        # An expiry must lie ahead, so "now" is not offered for one.
        relative = [] if field.id == "expires" else [("P0D", now)]
        relative += [
            ("P3M", "3 months ahead"),
            ("P1Y", "12 months ahead"),
            ("P2Y", "24 months ahead"),
        ]
    return [(INFINITE, "no limit"), *relative, (CUSTOM, "custom date")]


class WindowWidget(forms.MultiWidget):
    """A choice of relative bound, then a date picker (and, for a datetime, a time)."""

    template_name = "admin/cdsapi/window_widget.html"

    def __init__(self, choices: list[tuple[str, str]], with_time: bool, initial: str) -> None:
        widgets = {"": forms.Select(choices=choices), "date": AdminDateWidget()}
        if with_time:
            widgets["time"] = AdminTimeWidget()
        self.with_time = with_time
        self.choice_values = {value for value, _ in choices}
        self.initial_choice = initial
        super().__init__(widgets)

    def decompress(self, value: Any) -> list[Any]:
        """A stored or typed bound as [choice, date, time]: an absolute one (as every stored
        grant holds) is shown as the custom date, in ``CDS_TIMEZONE`` for a datetime."""
        if value in (None, ""):
            return [self.initial_choice, None, None]
        if value in self.choice_values:
            return [value, None, None]
        try:
            if not self.with_time:
                return [CUSTOM, date.fromisoformat(value), None]
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            return [value, None, None]  # typed text (a duration): shown as typed
        local = moment.astimezone(ZoneInfo(settings.CDS_TIMEZONE))
        # The time as text keeps microseconds, so saving an untouched form moves no bound.
        shown = local.strftime("%H:%M:%S.%f" if local.microsecond else "%H:%M:%S")
        return [CUSTOM, local.date(), shown]


class WindowField(forms.MultiValueField):
    """A window bound (``relative_or_absolute_date`` or ``_datetime``) as the entry takes it:
    a relative choice (``P1Y``, ``P0D``, ``infinite``), or the date (and time, in
    ``CDS_TIMEZONE``) given with "custom date". Text posted under the field's own name
    (a duration, a date) is passed on as typed, to be checked with the grant."""

    def __init__(self, field: Field, **common: Any) -> None:
        self.with_time = "datetime" in field.format
        choices = window_choices(field)
        default = field.default_value()
        initial = default if default in {v for v, _ in choices} else INFINITE
        parts: list[forms.Field] = [
            forms.CharField(required=False),
            forms.DateField(required=False),
        ]
        if self.with_time:
            parts.append(forms.TimeField(required=False))
        super().__init__(
            parts,
            require_all_fields=False,
            widget=WindowWidget(choices, self.with_time, initial),
            **common,
        )

    def compress(self, values: list[Any]) -> str:
        if not values:
            return ""
        choice, day, *rest = values
        if choice != CUSTOM:
            return (choice or "").strip()
        if day is None:
            raise forms.ValidationError("give the date (or choose a relative bound)")
        if not self.with_time:
            return day.isoformat()
        moment = datetime.combine(day, rest[0] or time(0), ZoneInfo(settings.CDS_TIMEZONE))
        return format_datetime(moment)


def grantable() -> list[ScopeDescription]:
    return [s for s in registry().values() if s.family in ("seed", "consent")]


def name_of(scope: ScopeDescription, field: Field) -> str:
    return f"{scope.id}__{field.id}"


def entry_fields(scope: ScopeDescription) -> Iterator[Field]:
    kind = scope.authorization_details_types_supported[0]
    for field in scope.fields_for(kind).values():
        if field.implied or field.id in CONSENT_FORM_FIELDS:
            continue
        if field.id in PRESELECTIONS and not field.kept:
            continue
        yield field


def form_field(field: Field) -> forms.Field:
    """The form field for one entry field (blank: the scope's default)."""
    default = field.default_value()
    help_text = f"{field.description} Default: {json.dumps(default)}."
    common = {"required": False, "label": field.name[:1].upper() + field.name[1:]}
    if field.format == "boolean":
        return forms.NullBooleanField(
            widget=forms.NullBooleanSelect, help_text=help_text + " Unknown: the default.", **common
        )
    if field.format.startswith("relative_or_absolute"):
        zone = f" (time in {settings.CDS_TIMEZONE}; 00:00 if left empty)"
        return WindowField(
            field,
            help_text=f"{field.description} Relative choices are resolved when you save; "
            f"the date{zone if 'datetime' in field.format else ''} counts only with "
            '"custom date".',
            **common,
        )
    if field.format in ("choice", "choice_or_null"):
        choices = [("", "default"), *((c.id, c.name) for c in field.choices)]
        return forms.ChoiceField(choices=choices, help_text=help_text, **common)
    if field.format.startswith("choice_list"):
        return forms.MultipleChoiceField(
            choices=[(c.id, c.name) for c in field.choices],
            widget=forms.CheckboxSelectMultiple,
            help_text=f"{help_text} None ticked: the default.",
            **common,
        )
    if field.format == "jwk_or_null":
        return forms.CharField(
            widget=forms.Textarea(attrs={"rows": 3}), help_text=help_text, **common
        )
    return forms.CharField(
        help_text=help_text + (" Comma-separated." if "list" in field.format else ""), **common
    )


def declared_fields() -> dict[str, forms.Field]:
    """Every generated field, by form field name."""
    found: dict[str, forms.Field] = {}
    for scope in grantable():
        found[USE + scope.id] = forms.BooleanField(
            required=False, label=f"Share: {scope.name}", help_text=scope.description
        )
        for field in entry_fields(scope):
            found[name_of(scope, field)] = form_field(field)
    return found


def fieldsets() -> list[tuple[str, dict[str, Any]]]:
    """One collapsed fieldset per scope, for the admin."""
    return [
        (
            f"{scope.name} ({scope.id})",
            {
                "classes": ["collapse"],
                "fields": [USE + scope.id, *(name_of(scope, f) for f in entry_fields(scope))],
            },
        )
        for scope in grantable()
    ]


def details_from(cleaned: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries the ticked scopes describe (blank fields left out)."""
    entries = []
    for scope in grantable():
        if not cleaned.get(USE + scope.id):
            continue
        entry: dict[str, Any] = {"type": scope.authorization_details_types_supported[0]}
        for field in entry_fields(scope):
            value = cleaned.get(name_of(scope, field))
            if value in (None, "", []):
                continue
            if field.format == "jwk_or_null":
                value = json.loads(value)
            elif field.format.startswith("string_list"):
                value = [v.strip() for v in value.split(",") if v.strip()]
            elif field.format.startswith("choice_list"):
                value = list(value)
            entry[field.id] = value
        entries.append(entry)
    return entries


def initial_from(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The generated fields' initial values for a grant's stored entries."""
    initial: dict[str, Any] = {}
    for scope in grantable():
        entry = next(
            (e for e in entries if e.get("type") in scope.authorization_details_types_supported),
            None,
        )
        if entry is None:
            continue
        initial[USE + scope.id] = True
        for field in entry_fields(scope):
            value = entry.get(field.id)
            if value is None:
                continue
            if field.format.startswith("string_list"):
                value = ", ".join(value)
            elif field.format == "jwk_or_null":
                value = json.dumps(value)
            initial[name_of(scope, field)] = value
    return initial
