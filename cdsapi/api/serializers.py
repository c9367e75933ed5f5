"""Serializer pieces shared by the apps: exact decimals and the CDS metadata fields."""

from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import models
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

from cdsapi.fields import ExactDecimalField, ExactJSONField
from cdsapi.times import format_datetime


class ExactDecimal(serializers.Field):
    """Hands a stored ``Decimal`` to the renderer untouched (never through a float or string)."""

    def to_representation(self, value: Decimal) -> Decimal:
        return value


class UtcDateTime(serializers.Field):
    """RFC 3339 in UTC with ``Z`` whatever Django's ``TIME_ZONE``, as every served time is."""

    def to_representation(self, value: datetime) -> str:
        return format_datetime(value)


class AccountNumberSlot(serializers.Field):
    """Keeps ``account_number``'s place in objects that show their account's number; the
    policy fills it in (or removes it) from the account as the grant shows it."""

    def __init__(self) -> None:
        super().__init__(source="*", read_only=True)

    def to_representation(self, value: Any) -> None:
        return None


class CdsModelSerializer(serializers.ModelSerializer):
    """A model serializer that knows the exact-value model fields."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        ExactDecimalField: ExactDecimal,
        ExactJSONField: serializers.JSONField,
        models.DateTimeField: UtcDateTime,
    }

    @cached_property
    def _readable(self) -> list[serializers.Field]:
        return list(self._readable_fields)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """DRF's ``Serializer.to_representation`` into a plain dict, with the readable
        fields listed once per serializer rather than once per row."""
        data: dict[str, Any] = {}
        for field in self._readable:
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            data[field.field_name] = None if check is None else field.to_representation(attribute)
        return data
