"""The shape of an import document: CDS-WG3-01 §10 object formats plus the internal links
the API hides (a segment's account and meter, a service point's timezone, customers).

Fields the API derives (``account_number`` on contracts, statements and sections) are accepted
so that a document exported from any CDS server loads, and ignored: the server derives them.
"""

from datetime import datetime, timedelta
from decimal import MAX_PREC, Context
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from cdsapi import enums
from cdsapi.importer.types import (
    CdsDate,
    CdsDateTime,
    CdsDecimal,
    Currency,
    DateStr,
    DateTimeStr,
    DecimalOrStr,
    Id,
    ListOrAbsent,
    Str,
    Username,
    one_of,
)

# A segment's span is stored in seconds as a 32-bit integer (its series' longest segment).
MAX_SEGMENT_SECONDS = 2**31 - 1
_EXACT = Context(prec=MAX_PREC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CdsMetadata(Strict):
    cds_created: CdsDateTime
    cds_modified: CdsDateTime
    cds_synced: CdsDateTime


class Entity(Strict):
    id: Id
    types: list[one_of(enums.ENTITY_TYPES)]
    entity_number: Str
    entity_name: Str
    entity_abbreviation: Str | None


class Contact(Strict):
    id: Id
    types: list[one_of(enums.CONTACT_TYPES)]
    value: Str

    @field_validator("types")
    @classmethod
    def phone_or_email(cls, types: list[str]) -> list[str]:
        if "phone_number" not in types and "email" not in types:
            raise ValueError("a contact's types must include 'phone_number' or 'email'")
        return types


class Program(Strict):
    id: Id
    program_number: Str
    types: list[str]
    name: Str
    description: Str
    documentation: Str
    more_info: Str | None = None
    signup: Str | None = None
    settings: Str | None = None
    discontinue: Str | None = None
    participation_number: Str | None = None
    start: DateStr | None = None
    end: DateStr | None = None
    balance: CdsDecimal | None = None
    currency: Currency | None = None


class AccountProgram(Program):
    types: list[one_of(enums.ACCOUNT_PROGRAM_TYPES)]


class ServiceProgram(Program):
    types: list[one_of(enums.SERVICE_PROGRAM_TYPES)]
    units: one_of(enums.UNIT_TYPES) | None = None
    pnode: Str | None = None
    anode: Str | None = None
    aggregated: bool | None = None
    automated: bool | None = None


class AccountDoc(CdsMetadata):
    cds_account_id: Id
    cds_account_parent: Id | None = None
    customer_number: Str | None = None
    account_number: Str | None = None
    account_entity: Entity | None = None
    account_name: Str | None = None
    account_address: Str | None = None
    account_types: list[one_of(enums.ACCOUNT_TYPES)] | None = None
    account_status: one_of(enums.ACCOUNT_STATUSES) | None = None
    account_contacts: list[Contact] | None = None
    account_programs: list[AccountProgram] | None = None


class ServiceContractDoc(CdsMetadata):
    cds_servicecontract_id: Id
    cds_account_id: Id
    account_number: Str | None = None
    contract_number: Str | None = None
    contract_address: Str | None = None
    contract_types: list[one_of(enums.CONTRACT_TYPES)]
    contract_entity: Entity | None = None
    contract_status: one_of(enums.CONTRACT_STATUSES)
    contract_start: CdsDate | None = None
    contract_end: CdsDate | None = None
    service_types: list[one_of(enums.SERVICE_TYPES)]
    rateplan_code: Str | None = None
    rateplan_name: Str | None = None
    service_programs: ListOrAbsent[ServiceProgram] = None


class Premise(Strict):
    id: Id
    premise_number: Str
    types: list[one_of(enums.PREMISE_TYPES)]


class ServicePointDoc(CdsMetadata):
    cds_servicepoint_id: Id
    servicepoint_number: Str | None = None
    servicepoint_types: list[one_of(enums.SERVICEPOINT_TYPES)]
    servicepoint_address: Str | None = None
    latitude: CdsDecimal | None = None
    longitude: CdsDecimal | None = None
    current_servicecontracts: list[Id] = Field(default_factory=list)
    previous_servicecontracts: list[Id] = Field(default_factory=list)
    premises: ListOrAbsent[Premise] = None
    timezone: Str | None = None

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value


class MeterApp(Strict):
    id: Id
    app_number: Str
    types: list[one_of(enums.METER_APP_TYPES)]
    name: Str
    start: DateTimeStr | None = None
    end: DateTimeStr | None = None


class MeterDeviceDoc(CdsMetadata):
    cds_meterdevice_id: Id
    meter_number: Str | None = None
    meter_types: list[one_of(enums.METER_TYPES)]
    current_servicepoints: list[Id] = Field(default_factory=list)
    previous_servicepoints: list[Id] = Field(default_factory=list)
    meter_apps: ListOrAbsent[MeterApp] = None


class NewCharge(Strict):
    id: Id
    name: Str
    types: list[one_of(enums.NEW_CHARGE_TYPES)]
    amount: CdsDecimal
    included_in_amount_due: bool
    related_billsections: ListOrAbsent[Id] = None


class BillStatementDoc(CdsMetadata):
    cds_billstatement_id: Id
    cds_account_id: Id
    account_number: Str | None = None
    statement_date: CdsDate
    currency: Currency
    file_uri: Str | None = None
    file_mimetype: Str | None = None
    previous_balance_amount: CdsDecimal | None = None
    previous_balance_paid: CdsDecimal | None = None
    previous_balance_unpaid: CdsDecimal | None = None
    new_charges_amount: CdsDecimal | None = None
    new_charges: ListOrAbsent[NewCharge] = None
    new_balance_amount: CdsDecimal | None = None
    amount_due: CdsDecimal
    amount_due_date: CdsDate
    shutoff_prevention_minimum_due: CdsDecimal | None = None
    shutoff_prevention_date: CdsDate | None = None
    account_programs: ListOrAbsent[AccountProgram] = None


class UsageDetail(Strict):
    """A measurement: a number with its unit (text such as "$666.66" is refused, since
    usage_only serves usage details and must never serve money)."""

    id: Id
    name: Str
    types: list[one_of(enums.USAGE_DETAIL_TYPES)]
    value: CdsDecimal
    units: one_of(enums.UNIT_TYPES)
    start_date: DateStr | None = None
    end_date: DateStr | None = None
    demand_type: one_of(enums.DEMAND_TYPES) | None = None
    tou: one_of(enums.TOU_TYPES) | None = None
    tier: one_of(enums.TIER_TYPES) | None = None
    direction: one_of(enums.DIRECTION_TYPES) | None = None
    season: one_of(enums.SEASON_TYPES) | None = None
    start_read: CdsDecimal | None = None
    end_read: CdsDecimal | None = None
    multiplier: CdsDecimal | None = None


class CostDetail(Strict):
    id: Id
    name: Str
    types: list[one_of(enums.COST_DETAIL_TYPES)]
    cost: DecimalOrStr


class LineItem(Strict):
    id: Id
    name: Str
    types: list[one_of(enums.LINE_ITEM_TYPES)]
    start_date: DateStr
    end_date: DateStr
    cost: CdsDecimal
    value: CdsDecimal | None
    units: one_of(enums.UNIT_TYPES) | None = None
    rate: CdsDecimal | None
    related_usage_details: list[Id]
    related_cost_details: list[Id]


class BillSectionDoc(CdsMetadata):
    cds_billsection_id: Id
    cds_billstatement_id: Id | None
    cds_account_id: Id
    account_number: Str | None = None
    section_types: list[one_of(enums.BILL_SECTION_TYPES)]
    start_date: CdsDate
    end_date: CdsDate
    currency: Currency
    distribution_entity: Entity | None
    supply_entity: Entity | None
    related_servicecontracts: list[Id] = Field(default_factory=list)
    related_servicepoints: list[Id] = Field(default_factory=list)
    related_meterdevices: list[Id] = Field(default_factory=list)
    related_billsections: list[Id] = Field(default_factory=list)
    usage_details: list[UsageDetail]
    cost_details: list[CostDetail]
    line_items: ListOrAbsent[LineItem] = None

    @model_validator(mode="after")
    def dates_in_order(self) -> "BillSectionDoc":
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ValueFormat(Strict):
    id: Id
    type: one_of(tuple(enums.VALUE_KEYS))
    units: one_of(enums.UNIT_TYPES) | None = None
    direction: one_of(enums.DIRECTION_TYPES) | None = None
    tou: one_of(enums.TOU_TYPES) | None = None
    tier: one_of(enums.TIER_TYPES) | None = None
    season: one_of(enums.SEASON_TYPES) | None = None
    quality: one_of(enums.READING_QUALITY_TYPES) | None = None
    demand_type: one_of(enums.DEMAND_TYPES) | None = None
    related_meterdevices: ListOrAbsent[Id] = None
    related_meterdevice: Id | None = None
    register_: Str | None = Field(default=None, alias="register")
    indexes: ListOrAbsent[int] = None
    attribution: one_of(enums.SUPPLY_ATTRIBUTION_TYPES) | None = None
    supply_type: one_of(enums.SUPPLY_TYPES) | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def required_by_type(self) -> "ValueFormat":
        allowed_units = enums.UNITS_BY_VALUE_TYPE.get(self.type)
        if allowed_units is not None and self.units not in allowed_units:
            raise ValueError(f"a {self.type} format needs units, one of {list(allowed_units)}")
        required = {
            "electric_demand": ["demand_type"],
            "electric_supply_mix": ["indexes", "attribution", "supply_type"],
            "cost": ["currency", "indexes"],
            "meter_readings": ["related_meterdevice"],
        }.get(self.type, [])
        for name in required:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} format needs {name!r}")
        return self


class UsageSegmentDoc(CdsMetadata):
    cds_usagesegment_id: Id
    cds_account_id: Id | None = Field(
        default=None, description="Internal: the account measured; default related_accounts[0]."
    )
    cds_meterdevice_id: Id | None = Field(
        default=None, description="Internal: the meter; default the only related meter, if one."
    )
    related_aggregations: list[Id] = Field(default_factory=list)
    related_accounts: list[Id] = Field(default_factory=list)
    related_servicecontracts: list[Id] = Field(default_factory=list)
    related_servicepoints: list[Id] = Field(default_factory=list)
    related_meterdevices: list[Id] = Field(default_factory=list)
    related_billsections: list[Id] = Field(default_factory=list)
    segment_start: CdsDateTime
    segment_end: CdsDateTime
    interval: CdsDecimal
    formats: list[ValueFormat]
    values: list[list[dict[str, Any] | None]]

    @field_validator("formats", mode="before")
    @classmethod
    def indexes_are_positions(cls, formats: Any) -> Any:
        """A cost or supply-mix format's ``indexes`` name other formats of the segment, by
        position, each once, and never another cost or mix (serving moves them with their
        formats, so they must mean one thing)."""
        if not isinstance(formats, list):
            return formats
        for n, fmt in enumerate(formats):
            indexes = fmt.get("indexes") if isinstance(fmt, dict) else None
            if not isinstance(indexes, list):
                continue
            for i in indexes:
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(formats):
                    raise ValueError(
                        f"formats[{n}].indexes: {i!r} is not the position of a format "
                        f"(0 to {len(formats) - 1})"
                    )
                target = formats[i] if isinstance(formats[i], dict) else {}
                if i == n or target.get("type") in ("cost", "electric_supply_mix"):
                    raise ValueError(
                        f"formats[{n}].indexes: {i} names a cost or supply-mix format (or "
                        "itself); indexes name the formats measured"
                    )
            if len(set(indexes)) != len(indexes):
                raise ValueError(f"formats[{n}].indexes: a position is named twice")
        return formats

    @field_validator("interval")
    @classmethod
    def positive_interval(cls, value: Any) -> Any:
        if value <= 0:
            raise ValueError("interval must be a positive number of seconds")
        if value > MAX_SEGMENT_SECONDS:
            raise ValueError(f"interval must be at most {MAX_SEGMENT_SECONDS} seconds")
        micro = value.scaleb(6, context=_EXACT)
        if micro != micro.to_integral_value(context=_EXACT):
            raise ValueError("interval must be a whole number of microseconds")
        return value

    @property
    def account_id(self) -> str | None:
        if self.cds_account_id is not None:
            return self.cds_account_id
        return self.related_accounts[0] if len(self.related_accounts) == 1 else None

    @property
    def meter_id(self) -> str | None:
        if self.cds_meterdevice_id is not None:
            return self.cds_meterdevice_id
        return self.related_meterdevices[0] if len(self.related_meterdevices) == 1 else None

    def expected_end(self, count: int | None = None) -> datetime:
        """The end ``count`` value sets after the start (default: the values given)."""
        count = len(self.values) if count is None else count
        microseconds = self.interval * count * 1_000_000
        return self.segment_start + timedelta(microseconds=int(microseconds))


class CustomerDoc(Strict):
    username: Username
    email: Str = ""
    accounts: list[Id] = Field(default_factory=list)


class ImportDocument(Strict):
    accounts: list[AccountDoc] = Field(default_factory=list)
    service_contracts: list[ServiceContractDoc] = Field(default_factory=list)
    service_points: list[ServicePointDoc] = Field(default_factory=list)
    meter_devices: list[MeterDeviceDoc] = Field(default_factory=list)
    bill_statements: list[BillStatementDoc] = Field(default_factory=list)
    bill_sections: list[BillSectionDoc] = Field(default_factory=list)
    usage_segments: list[UsageSegmentDoc] = Field(default_factory=list)
    customers: list[CustomerDoc] = Field(default_factory=list)
    _given_order: tuple[str, ...] = PrivateAttr(default=())

    def keep_order(self, data: dict[str, Any]) -> "ImportDocument":
        """Remember the order of the lists in the parsed ``data`` (errors follow it)."""
        self._given_order = tuple(k for k in data if k in type(self).model_fields)
        return self

    @property
    def kinds(self) -> tuple[str, ...]:
        """The names of the lists in document order (those not given last)."""
        rest = tuple(k for k in type(self).model_fields if k not in self._given_order)
        return self._given_order + rest
