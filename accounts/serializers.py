"""Full CDS representations of accounts and their services (CDS-WG3-01 §10.1 to §10.4).

These render every field; what a client may see is cut down by the grant's policy.
"""

from rest_framework import serializers

from accounts.models import (
    ACCOUNT_FIELDS,
    AccountVersion,
    MeterDevice,
    ServiceContract,
    ServicePoint,
)
from accounts.queries import json_list
from cdsapi.api.serializers import CdsModelSerializer


class LinkedIds(serializers.Field):
    """The ids a many-to-many link names: read from the ``<name>_ids`` annotation the
    listing query adds (``accounts.queries.linked_ids``), else from the relation."""

    def __init__(self, slug_field: str) -> None:
        super().__init__(read_only=True, source="*")
        self.slug_field = slug_field

    def to_representation(self, value: object) -> list[str]:
        annotated = getattr(value, f"{self.field_name}_ids", None)
        if annotated is not None:
            return json_list(annotated)
        related = getattr(value, self.field_name).all()
        return [getattr(linked, self.slug_field) for linked in related]


class AccountSerializer(CdsModelSerializer):
    """An account as one of its versions shows it."""

    cds_account_id = serializers.CharField(source="account.cds_account_id")
    cds_account_parent = serializers.CharField(source="parent.cds_account_id", default=None)

    class Meta:
        model = AccountVersion
        fields = [
            "cds_account_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "cds_account_parent",
            *ACCOUNT_FIELDS,
        ]


class ServiceContractSerializer(CdsModelSerializer):
    cds_account_id = serializers.CharField(source="account.cds_account_id")

    class Meta:
        model = ServiceContract
        fields = [
            "cds_servicecontract_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "cds_account_id",
            "contract_number",
            "contract_address",
            "contract_types",
            "contract_entity",
            "contract_status",
            "contract_start",
            "contract_end",
            "service_types",
            "rateplan_code",
            "rateplan_name",
            "service_programs",
        ]


class ServicePointSerializer(CdsModelSerializer):
    current_servicecontracts = LinkedIds("cds_servicecontract_id")
    previous_servicecontracts = LinkedIds("cds_servicecontract_id")

    class Meta:
        model = ServicePoint
        fields = [
            "cds_servicepoint_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "servicepoint_number",
            "servicepoint_types",
            "servicepoint_address",
            "latitude",
            "longitude",
            "current_servicecontracts",
            "previous_servicecontracts",
            "premises",
        ]


class MeterDeviceSerializer(CdsModelSerializer):
    current_servicepoints = LinkedIds("cds_servicepoint_id")
    previous_servicepoints = LinkedIds("cds_servicepoint_id")

    class Meta:
        model = MeterDevice
        fields = [
            "cds_meterdevice_id",
            "cds_created",
            "cds_modified",
            "cds_synced",
            "meter_number",
            "meter_types",
            "current_servicepoints",
            "previous_servicepoints",
            "meter_apps",
        ]
