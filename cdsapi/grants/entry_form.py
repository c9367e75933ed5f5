"""Form fields for grant entries, generated from the scope registry, so that an operator makes
a grant by ticking and choosing rather than by typing JSON (the admin's grant form).

Each scope an operator may grant (seed and consent scopes) gets a "share" checkbox and one
field per entry field it keeps, by format: a checkbox for an include, a date or duration for a
window, a choice or checkboxes for choices, comma-separated text for string lists. A blank
field is left out of the entry, so the scope's default applies.
"""

import json
from collections.abc import Iterator
from typing import Any

from django import forms

from cdsapi.grants.scopes import Field, ScopeDescription, registry
from cdsapi.grants.upstream import CONSENT_FORM_FIELDS, PRESELECTIONS

USE = "use__"


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
        return forms.CharField(
            help_text=f"{help_text} A date{' and time' if 'datetime' in field.format else ''}, "
            "a duration such as P1Y (a year back for a start, ahead for an end), or infinite.",
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
