"""OpenAPI 3.1 description of the Customer Data API (drf-spectacular).

The endpoints build their items by hand (the policy cuts serializer output to what a grant
shows), so the schema is written here as data, not derived from serializers:

- ``OBJECTS``: each object's fields as JSON Schema. Only the fields no grant can hide are
  ``required``; every other field may be absent (not granted) or, where stored so, ``null``
  (granted but unknown). Exact decimals are ``number``.
- ``NESTED``: the objects inside them (entities, contacts, programs, premises, meter apps,
  new charges, usage and cost details, line items, value formats and value objects), as
  ``cdsapi.importer.schema`` admits them and the server serves them: exactly the import's
  keys (``additionalProperties: false``), its enumerations, optional keys absent when the
  source gave none. ``UsageAggregate`` narrows ``UsageSegment`` to what an aggregated view
  serves.
- ``ENDPOINTS``: each endpoint's envelope, object and query parameters.
- ``cds_list_schema``: the ``@extend_schema`` each list view carries.
- ``postprocess``: the drf-spectacular hook that adds the components and, as
  ``x-cds-governed-by``, which grant type or ``include_*`` field governs each endpoint,
  parameter and field (from the policy tables, so it cannot drift from what is enforced).
"""

from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from cdsapi import enums
from cdsapi.api.exceptions import RETRY_AFTER_SECONDS
from cdsapi.grants import upstream
from cdsapi.grants.policy import ACCOUNT_ALWAYS, SECTION_FIELDS, STATEMENT_FIELDS
from cdsapi.grants.upstream import (
    ACCOUNTS,
    ALWAYS,
    CONTRACTS,
    FIELD_INCLUDES,
    METERS,
    OBJECT_INCLUDES,
    POINTS,
    SECTIONS,
    SEGMENTS,
    STATEMENTS,
)
from usage.aggregation import AGGREGATION_TYPES, SUMMED

API_PREFIX = "/cds-customerdata-api/v1/"
GOVERNED_BY = "x-cds-governed-by"
REF = "#/components/schemas/"

# -- JSON Schema building blocks ------------------------------------------------------------


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (OpenAPI 3.1 / JSON Schema 2020-12)."""
    kind = schema["type"]
    nullable = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in schema:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


STRING = {"type": "string"}
DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
DATETIME = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
    "description": "RFC 3339, always UTC with Z",
}
DECIMAL = {"type": "number", "description": "exact decimal: the stored digits, as a JSON number"}
STRINGS = {"type": "array", "items": STRING}
META = {"cds_created": DATETIME, "cds_modified": DATETIME, "cds_synced": DATETIME}
ID = {
    "type": "string",
    "minLength": 1,
    "pattern": r"^[^\s~]+$",
    "description": "an id as imported (no whitespace, no '~')",
}
IDS = {"type": "array", "items": ID}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"}
BOOLEAN = {"type": "boolean"}


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _enums(values: Any) -> dict[str, Any]:
    return {"type": "array", "items": _enum(values)}


def _ref(component: str) -> dict[str, Any]:
    return {"$ref": REF + component}


def _refs(component: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(component)}


def _null_ref(component: str) -> dict[str, Any]:
    return {"anyOf": [_ref(component), {"type": "null"}]}


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    known = schema.get("description")
    return {**schema, "description": f"{known}; {description}" if known else description}


def _nested(
    description: str,
    required: dict[str, dict[str, Any]],
    optional: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A nested object served exactly as stored: its keys are the import schema's, no more."""
    return {
        "type": "object",
        "description": description,
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
        **extra,
    }


# -- nested object formats (as cdsapi/importer/schema.py admits them, served as stored) -------
#
# The import keeps only the keys a source gave, so an optional key may be absent ("omitted
# when unknown"); where the import admits null, a given null is served as null.

_PROGRAM_REQUIRED = {
    "id": ID,
    "program_number": STRING,
    "types": STRINGS,  # narrowed per kind below
    "name": STRING,
    "description": STRING,
    "documentation": _described(STRING, "URL of the program's documentation"),
}
_PROGRAM_OPTIONAL = {
    "more_info": _null(_described(STRING, "URL")),
    "signup": _null(_described(STRING, "URL")),
    "settings": _null(_described(STRING, "URL")),
    "discontinue": _null(_described(STRING, "URL")),
    "participation_number": _null(STRING),
    "start": _null(DATE),
    "end": _null(DATE),
    "balance": _null(DECIMAL),
    "currency": _null(CURRENCY),
}


def _format_rule(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """What a format of one value type must carry (the import's per-type checks)."""
    return {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {"required": required, "properties": properties},
    }


_FORMAT_RULES = [
    *(
        _format_rule(kind, ["units"], {"units": _enum(units)})
        for kind, units in enums.UNITS_BY_VALUE_TYPE.items()
    ),
    _format_rule("electric_demand", ["demand_type"], {"demand_type": _enum(enums.DEMAND_TYPES)}),
    _format_rule(
        "electric_supply_mix",
        ["indexes", "attribution", "supply_type"],
        {
            "attribution": _enum(enums.SUPPLY_ATTRIBUTION_TYPES),
            "supply_type": _enum(enums.SUPPLY_TYPES),
        },
    ),
    _format_rule("cost", ["currency", "indexes"], {"currency": CURRENCY}),
    # Required at import; left out when the grant does not show that meter.
    _format_rule("meter_readings", [], {"related_meterdevice": ID}),
]
# Value types that aggregate (usage.aggregation.reducer): summed, or peak demand's maximum.
AGGREGATED_TYPES = tuple(
    kind for kind, key in enums.VALUE_KEYS.items() if key in SUMMED or kind == "electric_demand"
)


def _value(kind: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The value object of one value type: its key (``enums.VALUE_KEYS``), and no other
    except a supply mix's optional ``ci`` and ``eacs``."""
    return {
        "type": "object",
        "title": kind,
        "required": [enums.VALUE_KEYS[kind]],
        "properties": properties,
        "additionalProperties": False,
    }


_DECIMAL_VALUES = {kind: _value(kind, {key: DECIMAL}) for kind, key in enums.VALUE_KEYS.items()}
_VALUES = {
    **_DECIMAL_VALUES,
    "electric_supply_mix": _value(
        "electric_supply_mix",
        {
            "sm": {**DECIMAL, "minimum": 0, "maximum": 1, "description": "a ratio, 0 to 1"},
            "ci": _described(DECIMAL, "carbon intensity, gCO2e/kWh"),
            "eacs": _described(STRINGS, "cds_eac_id of each energy attribute certificate"),
        },
    ),
    "meter_readings": _value(
        "meter_readings",
        {"r": _described(STRING, "the register's reading at the start of the slot")},
    ),
}


def _value_set(value: str, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {"anyOf": [_ref(value), {"type": "null"}]},
    }


NESTED: dict[str, dict[str, Any]] = {
    "Entity": _nested(
        "A utility or supplier (CDS-WG3-01 §10.1.2).",
        {
            "id": ID,
            "types": _enums(enums.ENTITY_TYPES),
            "entity_number": STRING,
            "entity_name": STRING,
            "entity_abbreviation": _null(STRING),
        },
    ),
    "AccountContact": _nested(
        "A contact of an account: types include phone_number or email (§10.1.3).",
        {
            "id": ID,
            "types": {
                **_enums(enums.CONTACT_TYPES),
                "contains": {"enum": ["phone_number", "email"]},
            },
            "value": _described(STRING, "an E.164 phone number or an email address"),
        },
    ),
    "AccountProgram": _nested(
        "A program an account takes part in (§10.1.4). Optional fields are absent when "
        "unknown; a program scope's grant shows only the programs it lists.",
        {**_PROGRAM_REQUIRED, "types": _enums(enums.ACCOUNT_PROGRAM_TYPES)},
        _PROGRAM_OPTIONAL,
    ),
    "ServiceProgram": _nested(
        "A program a service contract takes part in (§10.2.3). Optional fields are absent "
        "when unknown; a program scope's grant shows only the programs it lists.",
        {**_PROGRAM_REQUIRED, "types": _enums(enums.SERVICE_PROGRAM_TYPES)},
        {
            **_PROGRAM_OPTIONAL,
            "units": _null(_enum(enums.UNIT_TYPES)),
            "pnode": _null(STRING),
            "anode": _null(STRING),
            "aggregated": _null(BOOLEAN),
            "automated": _null(BOOLEAN),
        },
    ),
    "Premise": _nested(
        "A premise a service point serves (§10.3.2).",
        {"id": ID, "premise_number": STRING, "types": _enums(enums.PREMISE_TYPES)},
    ),
    "MeterApp": _nested(
        "An app on a meter (§10.4.2); start and end are absent when unknown.",
        {
            "id": ID,
            "app_number": STRING,
            "types": _enums(enums.METER_APP_TYPES),
            "name": STRING,
        },
        {"start": _null(DATETIME), "end": _null(DATETIME)},
    ),
    "NewCharge": _nested(
        "A new charge on a statement (§10.5.2): money in the statement's currency.",
        {
            "id": ID,
            "name": STRING,
            "types": _enums(enums.NEW_CHARGE_TYPES),
            "amount": _described(DECIMAL, "positive a charge, negative a credit"),
            "included_in_amount_due": BOOLEAN,
        },
        {
            "related_billsections": _described(
                IDS,
                "absent if unknown or if the grant shows no bill sections; otherwise only "
                "the sections the grant shows",
            )
        },
    ),
    "UsageDetail": _nested(
        "A measurement on a bill section (§10.6.2): a number with its unit. Under the "
        "usage_only flavor only those in a unit other than money are shown.",
        {
            "id": ID,
            "name": STRING,
            "types": _enums(enums.USAGE_DETAIL_TYPES),
            "value": DECIMAL,
            "units": _enum(enums.UNIT_TYPES),
        },
        {
            "start_date": _null(DATE),
            "end_date": _null(DATE),
            "demand_type": _null(_enum(enums.DEMAND_TYPES)),
            "tou": _null(_enum(enums.TOU_TYPES)),
            "tier": _null(_enum(enums.TIER_TYPES)),
            "direction": _null(_enum(enums.DIRECTION_TYPES)),
            "season": _null(_enum(enums.SEASON_TYPES)),
            "start_read": _null(DECIMAL),
            "end_read": _null(DECIMAL),
            "multiplier": _null(DECIMAL),
        },
    ),
    "CostDetail": _nested(
        "A subtotal of a bill section (§10.6.3), money in the section's currency. Cost "
        "details may overlap: never sum them.",
        {
            "id": ID,
            "name": STRING,
            "types": _enums(enums.COST_DETAIL_TYPES),
            "cost": {
                "type": ["number", "string"],
                "description": "an exact decimal as a JSON number, or (where the bill prints "
                "no number) text; numeric text is always served as a number",
            },
        },
    ),
    "LineItem": _nested(
        "A printed charge line of a bill section (§10.6.4).",
        {
            "id": ID,
            "name": STRING,
            "types": _enums(enums.LINE_ITEM_TYPES),
            "start_date": DATE,
            "end_date": DATE,
            "cost": _described(DECIMAL, "money: positive a charge, negative a credit"),
            "value": _null(_described(DECIMAL, "the quantity billed, in units")),
            "rate": _null(_described(DECIMAL, "money per unit")),
            "related_usage_details": _described(IDS, "ids of the section's usage_details"),
            "related_cost_details": _described(IDS, "ids of the section's cost_details"),
        },
        {"units": _null(_enum(enums.UNIT_TYPES))},
    ),
    "UsageFormat": _nested(
        "What one position of every value set holds (§10.8.2). Per value type: the units "
        "it admits and the fields it needs (cost and electric_supply_mix formats name the "
        "positions they describe in indexes, renumbered when a grant serves fewer formats).",
        {"id": ID, "type": _enum(enums.VALUE_KEYS)},
        {
            "units": _null(_enum(enums.UNIT_TYPES)),
            "direction": _null(_enum(enums.DIRECTION_TYPES)),
            "tou": _null(_enum(enums.TOU_TYPES)),
            "tier": _null(_enum(enums.TIER_TYPES)),
            "season": _null(_enum(enums.SEASON_TYPES)),
            "quality": _null(_enum(enums.READING_QUALITY_TYPES)),
            "demand_type": _null(_enum(enums.DEMAND_TYPES)),
            "related_meterdevices": _described(IDS, "only meters the grant shows"),
            "related_meterdevice": _null(
                _described(ID, "a meter_readings format's meter; absent if the grant hides it")
            ),
            "register": _null(STRING),
            "indexes": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "uniqueItems": True,
                "description": "positions (0-based) of the formats this one describes",
            },
            "attribution": _null(_enum(enums.SUPPLY_ATTRIBUTION_TYPES)),
            "supply_type": _null(_enum(enums.SUPPLY_TYPES)),
            "currency": _null(CURRENCY),
        },
        allOf=_FORMAT_RULES,
    ),
    "UsageValue": {
        "description": "A value object: the one key of its format's value type (§10.8.3).",
        "oneOf": list(_VALUES.values()),
    },
    "UsageValueSet": _value_set(
        "UsageValue",
        "One value set: a value object per format, in the order of formats (null where "
        "there is no data).",
    ),
    "UsageAggregateFormat": {
        "description": "A format of an aggregate: a summed value type or peak demand, "
        "marked calculated, its id the stored format's id with ':' and the aggregation type.",
        "allOf": [
            _ref("UsageFormat"),
            {
                "required": ["quality"],
                "properties": {
                    "id": {"pattern": ":(" + "|".join(AGGREGATION_TYPES[1:]) + ")$"},
                    "type": {"enum": list(AGGREGATED_TYPES)},
                    "quality": {"const": "calculated"},
                },
            },
            _format_rule("electric_demand", [], {"demand_type": {"const": "peak"}}),
        ],
    },
    "UsageAggregateValue": {
        "description": "An aggregate's value object: the sum (peak demand: the maximum) of "
        "the period's values.",
        "oneOf": [_DECIMAL_VALUES[kind] for kind in AGGREGATED_TYPES],
    },
    "UsageAggregateValueSet": _value_set(
        "UsageAggregateValue",
        "The period's value set: per format, its total (null if the period has no data).",
    ),
}


@dataclass(frozen=True)
class Obj:
    """One object format: its component name, policy kind and fields."""

    component: str
    kind: str
    fields: dict[str, dict[str, Any]]
    required: frozenset[str]
    description: str


# Required: present on every visible object, in both vocabularies and every flavor.
_STATEMENT_REQUIRED = frozenset.intersection(*STATEMENT_FIELDS.values()) & ALWAYS[STATEMENTS]
_SECTION_REQUIRED = frozenset.intersection(*SECTION_FIELDS.values()) & ALWAYS[SECTIONS]

OBJECTS: dict[str, Obj] = {
    ACCOUNTS: Obj(
        "Account",
        ACCOUNTS,
        {
            "cds_account_id": STRING,
            **META,
            "cds_account_parent": _null(STRING),
            "customer_number": _null(STRING),
            "account_number": _null(STRING),
            "account_entity": _null_ref("Entity"),
            "account_name": _null(STRING),
            "account_address": _null(STRING),
            "account_types": _null(_enums(enums.ACCOUNT_TYPES)),
            "account_status": _null(_enum(enums.ACCOUNT_STATUSES)),
            "account_contacts": _null(_refs("AccountContact")),
            "account_programs": _null(_refs("AccountProgram")),
        },
        ACCOUNT_ALWAYS & ALWAYS[ACCOUNTS],
        "An account (CDS-WG3-01 §10.1), as it was at the grant's sync cutoff.",
    ),
    CONTRACTS: Obj(
        "ServiceContract",
        CONTRACTS,
        {
            "cds_servicecontract_id": STRING,
            **META,
            "cds_account_id": STRING,
            "account_number": _null(STRING),
            "contract_number": _null(STRING),
            "contract_address": _null(STRING),
            "contract_types": _enums(enums.CONTRACT_TYPES),
            "contract_entity": _null_ref("Entity"),
            "contract_status": _enum(enums.CONTRACT_STATUSES),
            "contract_start": _null(DATE),
            "contract_end": _null(DATE),
            "service_types": _enums(enums.SERVICE_TYPES),
            "rateplan_code": _null(STRING),
            "rateplan_name": _null(STRING),
            "service_programs": _null(_refs("ServiceProgram")),
        },
        ALWAYS[CONTRACTS],
        "A service contract (CDS-WG3-01 §10.2).",
    ),
    POINTS: Obj(
        "ServicePoint",
        POINTS,
        {
            "cds_servicepoint_id": STRING,
            **META,
            "servicepoint_number": _null(STRING),
            "servicepoint_types": _enums(enums.SERVICEPOINT_TYPES),
            "servicepoint_address": _null(STRING),
            "latitude": _null(DECIMAL),
            "longitude": _null(DECIMAL),
            "current_servicecontracts": STRINGS,
            "previous_servicecontracts": STRINGS,
            "premises": _null(_refs("Premise")),
        },
        ALWAYS[POINTS],
        "A service point (CDS-WG3-01 §10.3).",
    ),
    METERS: Obj(
        "MeterDevice",
        METERS,
        {
            "cds_meterdevice_id": STRING,
            **META,
            "meter_number": _null(STRING),
            "meter_types": _enums(enums.METER_TYPES),
            "current_servicepoints": STRINGS,
            "previous_servicepoints": STRINGS,
            "meter_apps": _null(_refs("MeterApp")),
        },
        ALWAYS[METERS],
        "A meter device (CDS-WG3-01 §10.4).",
    ),
    STATEMENTS: Obj(
        "BillStatement",
        STATEMENTS,
        {
            "cds_billstatement_id": STRING,
            **META,
            "cds_account_id": STRING,
            "account_number": _null(STRING),
            "statement_date": DATE,
            "currency": CURRENCY,
            "file_uri": _null(STRING),
            "file_mimetype": _null(STRING),
            "previous_balance_amount": _null(DECIMAL),
            "previous_balance_paid": _null(DECIMAL),
            "previous_balance_unpaid": _null(DECIMAL),
            "new_charges_amount": _null(DECIMAL),
            "new_charges": _null(_refs("NewCharge")),
            "new_balance_amount": _null(DECIMAL),
            "amount_due": DECIMAL,
            "amount_due_date": DATE,
            "shutoff_prevention_minimum_due": _null(DECIMAL),
            "shutoff_prevention_date": _null(DATE),
            "account_programs": _null(_refs("AccountProgram")),
        },
        _STATEMENT_REQUIRED,
        "A bill statement (CDS-WG3-01 §10.5).",
    ),
    SECTIONS: Obj(
        "BillSection",
        SECTIONS,
        {
            "cds_billsection_id": STRING,
            **META,
            "cds_billstatement_id": _null(STRING),
            "cds_account_id": STRING,
            "account_number": _null(STRING),
            "section_types": _enums(enums.BILL_SECTION_TYPES),
            "start_date": DATE,
            "end_date": DATE,
            "currency": CURRENCY,
            "distribution_entity": _null_ref("Entity"),
            "supply_entity": _null_ref("Entity"),
            "related_servicecontracts": STRINGS,
            "related_servicepoints": STRINGS,
            "related_meterdevices": STRINGS,
            "related_billsections": STRINGS,
            "usage_details": _refs("UsageDetail"),
            "cost_details": _refs("CostDetail"),
            "line_items": _null(_refs("LineItem")),
        },
        _SECTION_REQUIRED,
        "A bill section (CDS-WG3-01 §10.6).",
    ),
    SEGMENTS: Obj(
        "UsageSegment",
        SEGMENTS,
        {
            "cds_usagesegment_id": STRING,
            **META,
            "account_number": _null(STRING),
            "related_aggregations": STRINGS,
            "related_accounts": STRINGS,
            "related_servicecontracts": STRINGS,
            "related_servicepoints": STRINGS,
            "related_meterdevices": STRINGS,
            "related_billsections": STRINGS,
            "segment_start": DATETIME,
            "segment_end": DATETIME,
            "interval": {
                **DECIMAL,
                "exclusiveMinimum": 0,
                "description": "seconds per value set (an exact decimal)",
            },
            "formats": _refs("UsageFormat"),
            "values": {
                "type": "array",
                "description": "one value set per interval, one value object per format "
                "([] when the grant shows no value types)",
                "items": _ref("UsageValueSet"),
            },
        },
        frozenset(
            {"cds_usagesegment_id", "cds_created", "cds_modified", "cds_synced"}
            | {"segment_start", "segment_end", "interval", "formats", "values"}
            | {"related_aggregations", "related_accounts", "related_servicecontracts"}
            | {"related_servicepoints", "related_meterdevices", "related_billsections"}
        ),
        "A usage segment (CDS-WG3-01 §10.8), as stored or trimmed to a grant window; on an "
        "aggregated view, one period of an aggregate (see UsageAggregate).",
    ),
}

# -- which grant governs what ------------------------------------------------------------------

SEED_SCOPE = {
    ACCOUNTS: "cds_current_accounts_details",
    STATEMENTS: "cds_bill_statements",
    SECTIONS: "cds_bill_statements",
    SEGMENTS: "cds_usage",
}
_REFERENCES = {
    "cds_account_parent": "include_accounts",
    "cds_billstatement_id": "include_bill_statements",
    "related_aggregations": None,
    "related_accounts": "include_accounts",
    "related_servicecontracts": "include_service_contracts",
    "current_servicecontracts": "include_service_contracts",
    "previous_servicecontracts": "include_service_contracts",
    "related_servicepoints": "include_service_points",
    "current_servicepoints": "include_service_points",
    "previous_servicepoints": "include_service_points",
    "related_meterdevices": "include_meter_devices",
    "related_billsections": "include_bill_sections",
}


def endpoint_governance(kind: str) -> dict[str, Any]:
    seed = SEED_SCOPE.get(kind)
    if kind == SECTIONS:
        seed = "cds_bill_statements (flavor full or usage_only, not amount_due_only)"
    return {
        "seed": seed or "not served under the seed vocabulary",
        "upstream": next(k for k, v in OBJECT_INCLUDES.items() if v == kind),
    }


def _seed_field(kind: str, name: str) -> str:
    if name == "account_number" and kind != ACCOUNTS:
        return "shown if a cds_current_accounts_details entry's fields name account_number"
    if kind == ACCOUNTS:
        if name in ACCOUNT_ALWAYS:
            return "always"
        return f"cds_current_accounts_details: shown if fields names {name}"
    if kind in (STATEMENTS, SECTIONS):
        table = STATEMENT_FIELDS if kind == STATEMENTS else SECTION_FIELDS
        flavors = [flavor for flavor, names in table.items() if name in names]
        if len(flavors) == len(table):
            return "always"
        return "cds_bill_statements: shown with flavor " + " or ".join(flavors)
    if kind == SEGMENTS:
        return "always"
    return "not served under the seed vocabulary"


def _upstream_field(kind: str, name: str) -> str:
    includes = sorted(inc for inc, kinds in FIELD_INCLUDES.items() if name in kinds.get(kind, ()))
    own_id = next(iter(OBJECTS[kind].fields))
    if _REFERENCES.get(name) and name != own_id:
        return f"always; lists only objects the token can read ({_REFERENCES[name]})"
    if kind == SEGMENTS and name in ("formats", "values"):
        return f"always; cut to {upstream.VALUE_TYPES}"
    if includes:
        return "shown with " + " or ".join(includes)
    if name in ALWAYS.get(kind, ()) or kind == SEGMENTS:
        return "always"
    return "never shown"


def field_governance(kind: str, name: str) -> dict[str, str]:
    return {"seed": _seed_field(kind, name), "upstream": _upstream_field(kind, name)}


# -- query parameters --------------------------------------------------------------------------

LIST = "A space-separated list (at most 500 values); matches any of them."


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: Any = OpenApiTypes.STR
    enum: tuple[str, ...] | None = None
    governed_by: str | None = None


def _ids(name: str, what: str) -> Param:
    return Param(name, f"{LIST} Ids of {what}; ids outside the grant match nothing.")


def _account_field(name: str, account_field: str) -> Param:
    return Param(
        name,
        f"{LIST} On the account's {account_field} as the grant shows it; "
        f"403 insufficient_scope if the grant hides {account_field}.",
        governed_by=f"the grant must show {account_field}",
    )


def _own_field(name: str, what: str, include: str) -> Param:
    return Param(
        name,
        f"{LIST} On {what}; 403 insufficient_scope if the grant hides it.",
        governed_by=f"the grant must show it ({include})",
    )


Q = Param(
    "q",
    "A search term (1 to 255 characters): a substring, ignoring case and Unicode "
    "compatibility forms, of the values of the fields the grant shows.",
)
DATE_PARAM = OpenApiTypes.DATE
DATETIME_PARAM = OpenApiTypes.DATETIME
PAGING = (
    Param("limit", "At most this many items (1 to the page size, 100; ASCII digits).", int),
    Param("offset", "Skip this many served items (ASCII digits).", int),
)


@dataclass(frozen=True)
class Endpoint:
    path: str
    envelope: str
    kind: str
    operation_id: str
    summary: str
    params: tuple[Param, ...]

    @property
    def obj(self) -> Obj:
        return OBJECTS[self.kind]


ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        Endpoint(
            "accounts",
            "accounts",
            ACCOUNTS,
            "list_accounts",
            "Accounts (ordered by cds_modified, newest first)",
            (
                _ids("cds_account_ids", "accounts"),
                _account_field("customer_numbers", "customer_number"),
                _account_field("account_numbers", "account_number"),
                _account_field("account_statuses", "account_status"),
                Q,
            ),
        ),
        Endpoint(
            "service-contracts",
            "service_contracts",
            CONTRACTS,
            "list_service_contracts",
            "Service contracts (ordered by cds_modified, newest first)",
            (
                _ids("cds_servicecontract_ids", "service contracts"),
                _account_field("account_numbers", "account_number"),
                _own_field("contract_numbers", "contract_number", "include_contract_numbers"),
                Param(
                    "contract_statuses",
                    LIST,
                    enum=("active", "paused", "stopped", "closed", "unknown"),
                ),
                Param("contract_types", f"{LIST} Contracts holding any of the types."),
                Param("service_types", f"{LIST} Contracts holding any of the types."),
                Q,
            ),
        ),
        Endpoint(
            "service-points",
            "service_points",
            POINTS,
            "list_service_points",
            "Service points (ordered by cds_modified, newest first)",
            (
                _ids("cds_servicepoint_ids", "service points"),
                Param("servicepoint_numbers", f"{LIST} On servicepoint_number (always shown)."),
                _ids("current_servicecontracts", "service contracts (current_servicecontracts)"),
                _ids("previous_servicecontracts", "service contracts (previous_servicecontracts)"),
                Q,
            ),
        ),
        Endpoint(
            "meter-devices",
            "meter_devices",
            METERS,
            "list_meter_devices",
            "Meter devices (ordered by cds_modified, newest first)",
            (
                _ids("cds_meterdevice_ids", "meter devices"),
                _own_field(
                    "meter_number", "meter_number (singular, as upstream)", "include_meter_numbers"
                ),
                _ids("current_servicepoints", "service points (current_servicepoints)"),
                _ids("previous_servicepoints", "service points (previous_servicepoints)"),
                Q,
            ),
        ),
        Endpoint(
            "bill-statements",
            "bill_statements",
            STATEMENTS,
            "list_bill_statements",
            "Bill statements (statement_date, then cds_modified, newest first)",
            (
                _ids("cds_billstatement_ids", "bill statements"),
                Param("before", "statement_date on or before this date.", DATE_PARAM),
                Param("after", "statement_date on or after this date.", DATE_PARAM),
                _ids("cds_account_ids", "accounts"),
                _account_field("account_numbers", "account_number"),
            ),
        ),
        Endpoint(
            "bill-sections",
            "bill_sections",
            SECTIONS,
            "list_bill_sections",
            "Bill sections (cds_account_id, start_date; then cds_modified, newest first)",
            (
                _ids("cds_billsection_ids", "bill sections"),
                _ids("cds_billstatement_ids", "bill statements (as shown)"),
                Param("before", "start_date on or before this date.", DATE_PARAM),
                Param("after", "end_date on or after this date.", DATE_PARAM),
                _ids("cds_account_ids", "accounts"),
                _account_field("account_numbers", "account_number"),
                _ids("cds_servicecontract_ids", "service contracts (related_servicecontracts)"),
                _own_field(
                    "contract_numbers",
                    "the contract_number of a related_servicecontracts contract",
                    "include_contract_numbers",
                ),
            ),
        ),
        Endpoint(
            "usage-segments",
            "usage_segments",
            SEGMENTS,
            "list_usage_segments",
            "Usage segments, or aggregates of them (cds_account_id, segment_start)",
            (
                _ids("cds_usagesegment_ids", "usage segments, exactly as served"),
                Param("before", "Served segment_start on or before this instant.", DATETIME_PARAM),
                Param("after", "Served segment_end on or after this instant.", DATETIME_PARAM),
                _ids("cds_account_ids", "accounts (related_accounts)"),
                _account_field("account_numbers", "account_number"),
                _ids("cds_servicecontract_ids", "service contracts (related_servicecontracts)"),
                _own_field(
                    "contract_numbers",
                    "contract numbers of related contracts",
                    "include_contract_numbers",
                ),
                _ids("cds_servicepoint_ids", "service points (related_servicepoints)"),
                Param("servicepoint_numbers", f"{LIST} On numbers of related service points."),
                _ids("cds_meterdevice_ids", "meter devices (related_meterdevices)"),
                _own_field("meter_numbers", "numbers of related meters", "include_meter_numbers"),
                _ids("cds_billsection_ids", "bill sections (related_billsections)"),
                Param(
                    "aggregation_type",
                    "A view at least as coarse as the grant's (seed vocabulary only; "
                    "a finer one, or any under the upstream vocabulary, is 403).",
                    enum=AGGREGATION_TYPES,
                    governed_by="cds_usage aggregation_type",
                ),
                Param(
                    "cursor",
                    "Opaque, signed: where an aggregated view's next or previous page resumes "
                    "(only as given in those links).",
                ),
            ),
        ),
    )
}

# -- responses --------------------------------------------------------------------------------

ERRORS = {
    400: (
        "invalid_request",
        "A malformed, unknown or repeated query parameter, a control "
        "character in a value, or ?access_token= (tokens go in the header).",
    ),
    401: ("invalid_token", "No, unknown, expired or revoked token, or an inactive grant."),
    403: (
        "insufficient_scope",
        "The grant does not reach this endpoint, or a filter names a field the grant hides.",
    ),
    404: ("not_found", "No such resource."),
    405: ("invalid_request", "Only GET and HEAD are allowed (and OPTIONS, without a token)."),
    429: (
        "slow_down",
        "Too many requests from this client, or too many invalid tokens from this address; "
        "retry after Retry-After.",
    ),
    503: ("temporarily_unavailable", "The database is unreachable; retry after Retry-After."),
}
HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="cdsapi", error="invalid_token", ...'},
    403: {"WWW-Authenticate": 'Bearer realm="cdsapi", error="insufficient_scope", ...'},
    405: {"Allow": "GET, HEAD"},
    429: {"Retry-After": "seconds until the rate limit's window ends"},
    503: {"Retry-After": f"seconds to wait ({RETRY_AFTER_SECONDS})"},
}


def _error_component(code: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "const": code},
            "error_description": {"type": "string"},
        },
        "additionalProperties": False,
    }


def _error_name(status: int) -> str:
    return f"Error{status}"


def _list_component(envelope: str, item: str) -> dict[str, Any]:
    link = _null({"type": "string", "format": "uri"})
    return {
        "type": "object",
        "required": [envelope, "next", "previous"],
        "properties": {
            envelope: {"type": "array", "items": _ref(item)},
            "next": {**link, "description": "the next page's URL, or null on the last page"},
            "previous": {**link, "description": "the previous page's URL, or null on the first"},
        },
        "additionalProperties": False,
    }


def _list_name(endpoint: Endpoint) -> str:
    return endpoint.obj.component + "List"


# An aggregated view (seed vocabulary: aggregation_type, or a grant allowing nothing finer)
# serves one item per series and calendar period (usage.serving.aggregate_page).
AGGREGATE = "UsageAggregate"
AGGREGATE_LIST = AGGREGATE + "List"
AGGREGATE_ID = r"^agg-[0-9a-f]{24}-\d{8}T\d{6}(\.\d{6})?Z$"


def _aggregate_component() -> dict[str, Any]:
    return {
        "description": "One calendar period of an aggregate (hourly, daily or monthly, in "
        "the series' timezone; the first and last clipped to the grant's window): a "
        "UsageSegment with one value set, the period's totals.",
        "allOf": [
            _ref(OBJECTS[SEGMENTS].component),
            {
                "properties": {
                    "cds_usagesegment_id": {
                        "pattern": AGGREGATE_ID,
                        "description": "agg-, a hash of the series and period, then the "
                        "period's start (UTC)",
                    },
                    "interval": {
                        "type": "integer",
                        "description": "the period's length in whole seconds",
                    },
                    "formats": {"minItems": 1, "items": _ref("UsageAggregateFormat")},
                    "values": {
                        "minItems": 1,
                        "maxItems": 1,
                        "items": _ref("UsageAggregateValueSet"),
                    },
                },
            },
        ],
    }


def _ok_schema(endpoint: Endpoint) -> dict[str, Any]:
    """The 200 body: the list; for usage segments, intervals or (on an aggregated view)
    aggregates, which only the query or the grant tells apart."""
    if endpoint.kind != SEGMENTS:
        return _ref(_list_name(endpoint))
    return {
        "description": f"{AGGREGATE_LIST} on an aggregated view (aggregation_type "
        "hourly_aggregates, daily_aggregates or monthly_aggregates, or a grant allowing "
        f"nothing finer), else {_list_name(endpoint)}.",
        "anyOf": [_ref(_list_name(endpoint)), _ref(AGGREGATE_LIST)],
    }


def _object_component(obj: Obj) -> dict[str, Any]:
    return {
        "type": "object",
        "description": obj.description + " Optional fields are absent unless the grant "
        "shows them; null means shown but unknown.",
        "required": [name for name in obj.fields if name in obj.required],
        "properties": {name: dict(schema) for name, schema in obj.fields.items()},
        "additionalProperties": False,
    }


def components() -> dict[str, dict[str, Any]]:
    """Every schema component of the Customer Data API (without governance)."""
    found: dict[str, dict[str, Any]] = {}
    for obj in OBJECTS.values():
        found[obj.component] = _object_component(obj)
    found.update(NESTED)
    found[AGGREGATE] = _aggregate_component()
    for endpoint in ENDPOINTS.values():
        found[_list_name(endpoint)] = _list_component(endpoint.envelope, endpoint.obj.component)
    found[AGGREGATE_LIST] = _list_component(ENDPOINTS["usage-segments"].envelope, AGGREGATE)
    for status, (code, _) in ERRORS.items():
        found[_error_name(status)] = _error_component(code)
    return found


def _parameter(param: Param) -> OpenApiParameter:
    return OpenApiParameter(
        param.name,
        param.type,
        OpenApiParameter.QUERY,
        required=False,
        description=param.description,
        enum=list(param.enum) if param.enum else None,
    )


def cds_list_schema(path: str) -> Any:
    """The ``@extend_schema`` of the list view at ``API_PREFIX + path``."""
    endpoint = ENDPOINTS[path]
    responses: dict[int, Any] = {
        200: OpenApiResponse(
            response=_ok_schema(endpoint),
            description=f"A page of {endpoint.envelope} (at most 100 items). A grant with a "
            "jwk gets every body as a compact JWE (application/jose) instead.",
        )
    }
    for status, (_, description) in ERRORS.items():
        responses[status] = OpenApiResponse(
            response={"$ref": REF + _error_name(status)}, description=description
        )
    return extend_schema(
        summary=endpoint.summary,
        tags=["Customer Data API"],
        parameters=[_parameter(p) for p in (*endpoint.params, *PAGING)],
        responses=responses,
    )


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <token>`` (RFC 6750), tokens from ``/oauth/token``."""

    target_class = "cdsapi.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from /oauth/token, bound to one grant.",
        }


# -- hooks --------------------------------------------------------------------------------


def only_customer_data_api(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """Preprocessing hook: this schema describes the Customer Data API only."""
    return [e for e in endpoints if e[0].startswith(API_PREFIX)]


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """Adds the components, the error headers and ``x-cds-governed-by``."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components())
    for obj in OBJECTS.values():
        properties = schemas[obj.component]["properties"]
        for name, schema in properties.items():
            schema[GOVERNED_BY] = field_governance(obj.kind, name)
    for path, endpoint in ENDPOINTS.items():
        operation = result["paths"].get(API_PREFIX + path, {}).get("get")
        if operation is None:
            continue
        operation["operationId"] = endpoint.operation_id  # not settable on a view class
        operation[GOVERNED_BY] = endpoint_governance(endpoint.kind)
        governed = {p.name: p.governed_by for p in endpoint.params if p.governed_by}
        for parameter in operation.get("parameters", []):
            if parameter["name"] in governed:
                parameter[GOVERNED_BY] = governed[parameter["name"]]
        for status, headers in HEADERS.items():
            response = operation["responses"].get(str(status))
            if response is not None:
                response["headers"] = {
                    name: {"schema": {"type": "string"}, "description": f"e.g. {example}"}
                    for name, example in headers.items()
                }
        ok = operation["responses"]["200"]["content"]
        ok["application/jose"] = {
            "schema": {"type": "string", "description": "compact JWE of the JSON body"}
        }
    return result


# -- the views serving it ------------------------------------------------------------------


class SchemaView(SpectacularJSONAPIView):
    """The schema, for ``GET`` and ``HEAD`` only (anything else: 405)."""

    http_method_names = ["get", "head"]


class DocsView(SpectacularSwaggerView):
    """The Swagger UI page, for ``GET`` and ``HEAD`` only: its HTML renderer has no page for
    ``OPTIONS``' metadata."""

    http_method_names = ["get", "head"]
