"""Model fields that store CDS values exactly, on SQLite and PostgreSQL alike."""

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.json import KeyTransform

from cdsapi.exactjson import ExactJSONDecoder, ExactJSONEncoder, canonical

_DECODER = ExactJSONDecoder()


class ExactDecimalField(models.Field):
    """A decimal stored with exactly the digits it was given (``0.40`` stays ``0.40``).

    Django's ``DecimalField`` quantizes to a fixed scale and, on SQLite, round-trips through a
    binary float. This field uses PostgreSQL's unconstrained ``numeric`` (which keeps the
    scale) and a ``text`` column on SQLite.
    """

    description = "Decimal number kept exactly as given"

    def db_type(self, connection: Any) -> str:
        return "numeric" if connection.vendor == "postgresql" else "text"

    def get_internal_type(self) -> str:
        return "ExactDecimalField"

    def to_python(self, value: Any) -> Decimal | None:
        if value is None:
            return value
        if isinstance(value, Decimal):
            return canonical(value)
        if isinstance(value, float):
            raise ValidationError("A float cannot be stored exactly; give a Decimal or a string.")
        try:
            result = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValidationError(f"{value!r} is not a decimal number.") from exc
        if not result.is_finite():
            raise ValidationError(f"{value!r} is not a finite decimal number.")
        return canonical(result)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def get_prep_value(self, value: Any) -> Decimal | None:
        return self.to_python(super().get_prep_value(value))

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = self.get_prep_value(value) if not prepared else value
        if value is None or connection.vendor == "postgresql":
            return value
        return str(value)


class ExactJSONField(models.JSONField):
    """A ``JSONField`` whose decimals are written and read back as exact ``Decimal`` values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", ExactJSONEncoder)
        kwargs.setdefault("decoder", ExactJSONDecoder)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        """As ``JSONField`` reads it, with one decoder for every value (a page of bill
        sections reads a thousand of them, and making a decoder each time was a tenth of
        the page's time)."""
        plain = isinstance(value, str) and not isinstance(expression, KeyTransform)
        if plain and self.decoder is ExactJSONDecoder:
            try:
                return _DECODER.decode(value)
            except json.JSONDecodeError:
                return value
        return super().from_db_value(value, expression, connection)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("encoder") is ExactJSONEncoder:
            del kwargs["encoder"]
        if kwargs.get("decoder") is ExactJSONDecoder:
            del kwargs["decoder"]
        return name, path, args, kwargs
