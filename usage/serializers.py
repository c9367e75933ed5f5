"""Full CDS representation of a usage segment (CDS-WG3-01 §10.8), as stored."""

from typing import Any

from rest_framework import serializers

from cdsapi.api.serializers import CdsModelSerializer
from usage.models import RELATED_ARRAYS, UsageSegment


class UsageSegmentSerializer(CdsModelSerializer):
    formats = serializers.JSONField(read_only=True)
    values = serializers.JSONField(read_only=True)

    class Meta:
        model = UsageSegment
        fields = [
            "cds_usagesegment_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "segment_start",
            "segment_end",
            "interval",
            "formats",
            "values",
        ]

    def to_representation(self, instance: UsageSegment) -> dict[str, Any]:
        data = super().to_representation(instance)
        related = instance.related
        head = list(data.items())[:4]
        tail = list(data.items())[4:]
        return {**dict(head), **{k: related.get(k, []) for k in RELATED_ARRAYS}, **dict(tail)}
