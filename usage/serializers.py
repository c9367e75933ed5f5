"""Full CDS representation of a usage segment (CDS-WG3-01 §10.8)."""

from rest_framework import serializers

from cdsapi.serializers import CdsModelSerializer
from usage.models import UsageSegment


class UsageSegmentSerializer(CdsModelSerializer):
    values = serializers.JSONField(read_only=True)

    class Meta:
        model = UsageSegment
        fields = [
            "cds_usagesegment_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "related_aggregations",
            "related_accounts",
            "related_servicecontracts",
            "related_servicepoints",
            "related_meterdevices",
            "related_billsections",
            "segment_start",
            "segment_end",
            "interval",
            "formats",
            "values",
        ]
