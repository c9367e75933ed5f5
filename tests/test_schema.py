"""The OpenAPI document (``/cds-customerdata-api/v1/schema``) against real responses.

Responses of the test client, for varied grants of both vocabularies, are validated with
``jsonschema`` (an independent JSON Schema 2020-12 validator) against the schemas the
served document itself names for each path and status (aggregated usage views also against
the aggregate list it names). The data holds an account whose nested objects use every field
and value type the import admits; each component, nested ones included, is shown to be
reached in real responses (every field it lists is served, and a broken copy of a value it
describes fails, reported at that value). The schema and its docs page are public and load
nothing from elsewhere.
"""

import copy
import json
import random
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client, override_settings
from jsonschema import Draft202012Validator, FormatChecker

from accounts.models import ACCOUNT_FIELDS
from accounts.views import AccountsView, MeterDevicesView, ServiceContractsView, ServicePointsView
from bills.views import BillSectionsView, BillStatementsView
from cdsapi import enums, exactjson
from cdsapi.api.pagination import PAGING_PARAMS
from cdsapi.grants import upstream
from cdsapi.importer import schema as imported
from tests.conftest import API
from tests.factories import AccountFactory, AccountVersionFactory
from usage.aggregation import AGGREGATION_TYPES
from usage.views import UsageSegmentsView

REF = "#/components/schemas/"
SCHEMA_URL = API + "schema"
DOCS_URL = API + "docs"
VIEWS = {
    "accounts": AccountsView,
    "service-contracts": ServiceContractsView,
    "service-points": ServicePointsView,
    "meter-devices": MeterDevicesView,
    "bill-statements": BillStatementsView,
    "bill-sections": BillSectionsView,
    "usage-segments": UsageSegmentsView,
}
SAMPLE_ACCOUNTS = [
    "acc-sample-r1",
    "acc-sample-r2",
    "acc-sample-r3",
    "acc-sample-c0",
    "acc-sample-c1",
    "acc-sample-c2",
]
RICH_ACCOUNT = "acc-x1"
FLAVORS = ("full", "usage_only", "amount_due_only")
AGGREGATED = AGGREGATION_TYPES[1:]
AGGREGATE_LIST = "UsageAggregateList"


def rich_document() -> dict[str, Any]:
    """One account whose nested objects hold every field, value type and null the import
    admits (the sample has no programs, premises, meter apps, text costs, demand, supply
    mix, cost or meter reading formats)."""
    meta = {
        "cds_created": "2026-09-01T00:00:00Z",
        "cds_modified": "2026-09-01T00:00:00Z",
        "cds_synced": "2026-11-01T00:00:00Z",
    }
    entity = {
        "id": "ent-x",
        "types": ["supplier", "cca"],
        "entity_number": "US-XX-CCA-X",
        "entity_name": "X Community Power",
        "entity_abbreviation": None,
    }
    program = {
        "id": "prg-x1",
        "program_number": "PRG-1",  # the program list upstream_entry grants
        "types": ["active", "credit_bank"],
        "name": "Credit bank",
        "description": "Banked solar credits",
        "documentation": "https://example.com/programs/credit-bank",
        "more_info": "https://example.com/programs/credit-bank/more",
        "signup": None,
        "settings": "https://example.com/programs/credit-bank/settings",
        "discontinue": "https://example.com/programs/credit-bank/stop",
        "participation_number": "P-0001",
        "start": "2026-01-01",
        "end": None,
        "balance": Decimal("12.50"),
        "currency": "USD",
    }
    bare_program = {
        "id": "prg-x2",
        "program_number": "PRG-2",
        "types": ["eligible", "low_income"],
        "name": "Discount",
        "description": "Income-qualified discount",
        "documentation": "https://example.com/programs/discount",
    }
    links = {
        "related_servicecontracts": ["sc-x1"],
        "related_servicepoints": ["sp-x1"],
        "related_meterdevices": ["md-x1"],
    }
    formats = [
        {
            "id": "f-eu",
            "type": "electric_usage",
            "units": "kWh",
            "direction": "net",
            "tou": "peak",
            "tier": None,
            "season": "summer",
            "quality": "revenue",
            "related_meterdevices": ["md-x1"],
        },
        {"id": "f-ed", "type": "electric_demand", "units": "kW", "demand_type": "peak"},
        {"id": "f-eda", "type": "electric_demand", "units": "kW", "demand_type": "average"},
        {
            "id": "f-sm",
            "type": "electric_supply_mix",
            "indexes": [0],
            "attribution": "residual",
            "supply_type": "solar",
        },
        {"id": "f-wu", "type": "water_usage", "units": "gal", "quality": "estimated"},
        {"id": "f-gu", "type": "natural_gas_usage", "units": "therm"},
        {"id": "f-fu", "type": "fuel_oil_usage", "units": "L"},
        {"id": "f-c", "type": "cost", "currency": "USD", "indexes": [0, 4]},
        {
            "id": "f-r",
            "type": "meter_readings",
            "related_meterdevice": "md-x1",
            "register": None,
            "units": "kWh",
        },
    ]
    full_set = [
        {"eu": Decimal("1.250")},
        {"ed": Decimal("3.5")},
        {"ed": Decimal("2.0")},
        {"sm": Decimal("0.40"), "ci": Decimal("120.5"), "eacs": ["eac-1"]},
        {"wu": 10},
        {"gu": Decimal("0.5")},
        {"fu": Decimal("1.00")},
        {"c": Decimal("0.3100")},
        {"r": "001234.5"},
    ]
    sparse_set = [None, {"ed": Decimal("0")}, None, {"sm": Decimal("1")}, *[None] * 4, None]

    def segment(day: int) -> dict[str, Any]:
        start = f"2026-09-{day:02d}T04:00:00Z"  # local midnight in New York
        return {
            "cds_usagesegment_id": f"us-x1-{day}",
            **meta,
            "cds_account_id": RICH_ACCOUNT,
            "cds_meterdevice_id": "md-x1",
            "related_accounts": [RICH_ACCOUNT],
            **links,
            "related_billsections": ["bsec-x1"],
            "segment_start": start,
            "segment_end": f"2026-09-{day:02d}T08:00:00Z",
            "interval": 3600,
            "formats": formats,
            "values": [full_set, sparse_set, full_set, full_set],
        }

    return {
        "accounts": [
            {
                "cds_account_id": RICH_ACCOUNT,
                **meta,
                "cds_account_parent": None,
                "customer_number": "CUST-X",
                "account_number": "9000-0001",
                "account_entity": entity,
                "account_name": "Xavier Example",
                "account_address": "1 Example Way\nGotham, XX 10001",
                "account_types": ["customer", "residential"],
                "account_status": "active",
                "account_contacts": [
                    {"id": "ct-x1", "types": ["phone_number", "mobile"], "value": "+15555550100"},
                    {"id": "ct-x2", "types": ["email", "primary"], "value": "x@example.com"},
                ],
                "account_programs": [program, bare_program],
            }
        ],
        "service_contracts": [
            {
                "cds_servicecontract_id": "sc-x1",
                **meta,
                "cds_account_id": RICH_ACCOUNT,
                "contract_number": "SA-X1",
                "contract_address": "1 Example Way",
                "contract_types": ["utility_service", "billed_monthly"],
                "contract_entity": entity,
                "contract_status": "active",
                "contract_start": "2026-01-01",
                "contract_end": None,
                "service_types": ["electric", "residential", "supply"],
                "rateplan_code": "DR-1",
                "rateplan_name": "Demand response",
                "service_programs": [
                    {
                        **program,
                        "types": ["active", "demand_response", "credit_bank"],
                        "units": "kWh",
                        "pnode": "PNODE-1",
                        "anode": None,
                        "aggregated": True,
                        "automated": False,
                    },
                    {**bare_program, "types": ["eligible", "ev"]},
                ],
            }
        ],
        "service_points": [
            {
                "cds_servicepoint_id": "sp-x1",
                **meta,
                "servicepoint_number": "SP-X1",
                "servicepoint_types": ["electric", "single_service", "physical"],
                "servicepoint_address": "1 Example Way",
                "latitude": Decimal("40.71234"),
                "longitude": Decimal("-74.00567"),
                "current_servicecontracts": ["sc-x1"],
                "premises": [{"id": "pr-x1", "premise_number": "BLDG-1", "types": ["building"]}],
                "timezone": "America/New_York",
            }
        ],
        "meter_devices": [
            {
                "cds_meterdevice_id": "md-x1",
                **meta,
                "meter_number": "M-X1",
                "meter_types": ["electric_usage", "bidirectional", "ami_meter"],
                "current_servicepoints": ["sp-x1"],
                "meter_apps": [
                    {
                        "id": "app-1",
                        "app_number": "A-1",
                        "types": ["installed", "customer_installable"],
                        "name": "Thermostat link",
                        "start": "2026-02-01T00:00:00Z",
                    },
                    {
                        "id": "app-2",
                        "app_number": "A-2",
                        "types": ["uninstalled"],
                        "name": "Old display",
                        "start": None,
                        "end": "2026-03-01T00:00:00Z",
                    },
                ],
            }
        ],
        "bill_statements": [
            {
                "cds_billstatement_id": "bst-x1",
                **meta,
                "cds_account_id": RICH_ACCOUNT,
                "statement_date": "2026-10-05",
                "currency": "USD",
                "file_uri": "https://example.com/bills/bst-x1.pdf",
                "file_mimetype": "application/pdf",
                "previous_balance_amount": Decimal("10.00"),
                "previous_balance_paid": Decimal("10.00"),
                "previous_balance_unpaid": Decimal("0.00"),
                "new_charges_amount": Decimal("21.10"),
                "new_charges": [
                    {
                        "id": "nc-x1",
                        "name": "Electric Service Charges",
                        "types": ["electric_total"],
                        "amount": Decimal("20.00"),
                        "included_in_amount_due": True,
                        "related_billsections": ["bsec-x1"],
                    },
                    {
                        "id": "nc-x2",
                        "name": "Local Utility Tax",
                        "types": ["tax"],
                        "amount": Decimal("1.10"),
                        "included_in_amount_due": True,
                    },
                ],
                "new_balance_amount": Decimal("21.10"),
                "amount_due": Decimal("21.10"),
                "amount_due_date": "2026-10-26",
                "shutoff_prevention_minimum_due": Decimal("5.00"),
                "shutoff_prevention_date": "2026-11-15",
                "account_programs": [bare_program],
            }
        ],
        "bill_sections": [
            {
                "cds_billsection_id": "bsec-x1",
                **meta,
                "cds_billstatement_id": "bst-x1",
                "cds_account_id": RICH_ACCOUNT,
                "section_types": ["service_contract", "electric", "supply"],
                "start_date": "2026-09-01",
                "end_date": "2026-09-30",
                "currency": "USD",
                "distribution_entity": entity,
                "supply_entity": None,
                **links,
                "usage_details": [
                    {
                        "id": "ud-x1",
                        "name": "Peak demand",
                        "types": ["electric_demand", "time_of_use", "amr_reading"],
                        "value": Decimal("5.6"),
                        "units": "kW",
                        "start_date": "2026-09-01",
                        "end_date": "2026-09-30",
                        "demand_type": "peak",
                        "tou": "peak",
                        "tier": None,
                        "direction": "forward",
                        "season": "summer",
                        "start_read": Decimal("1000.0"),
                        "end_read": Decimal("1812.4"),
                        "multiplier": Decimal("1"),
                    },
                    {
                        "id": "ud-x2",
                        "name": "Credit applied",
                        "types": ["estimated"],
                        "value": Decimal("3.00"),
                        "units": "money",
                    },
                ],
                "cost_details": [
                    {"id": "cd-x1", "name": "Total", "types": ["overall_total"], "cost": 20},
                    {"id": "cd-x2", "name": "Rider", "types": ["other"], "cost": "included"},
                ],
                "line_items": [
                    {
                        "id": "li-x1",
                        "name": "Customer Charge",
                        "types": ["fixed_charge"],
                        "start_date": "2026-09-01",
                        "end_date": "2026-09-30",
                        "cost": Decimal("2.80"),
                        "value": None,
                        "rate": None,
                        "related_usage_details": [],
                        "related_cost_details": ["cd-x1"],
                    },
                    {
                        "id": "li-x2",
                        "name": "Energy",
                        "types": ["usage_charge", "supply"],
                        "start_date": "2026-09-01",
                        "end_date": "2026-09-30",
                        "cost": Decimal("17.20"),
                        "value": Decimal("163.8"),
                        "units": "kWh",
                        "rate": Decimal("0.1050"),
                        "related_usage_details": ["ud-x1"],
                        "related_cost_details": ["cd-x1"],
                    },
                    {
                        "id": "li-x3",
                        "name": "Adjustment",
                        "types": ["other"],
                        "start_date": "2026-09-01",
                        "end_date": "2026-09-30",
                        "cost": Decimal("0"),
                        "value": None,
                        "units": None,
                        "rate": None,
                        "related_usage_details": [],
                        "related_cost_details": [],
                    },
                ],
            }
        ],
        "usage_segments": [segment(10), segment(11)],
    }


@pytest.fixture
def doc(db) -> dict[str, Any]:
    response = Client().get(SCHEMA_URL)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


@pytest.fixture
def data(db, sample_path, tmp_path: Path) -> list[str]:
    """The committed sample, the rich document, and one account (made with the factories)
    whose optional fields are all unknown (null)."""
    call_command("cds_import", str(sample_path), "--no-progress")
    rich = tmp_path / "rich.json"
    rich.write_text(exactjson.dumps(rich_document()))
    call_command("cds_import", str(rich), "--no-progress")
    account = AccountFactory(cds_account_id="acc-nulls")
    AccountVersionFactory(
        account=account,
        **{name: None for name in ACCOUNT_FIELDS},
    )
    return [*SAMPLE_ACCOUNTS, RICH_ACCOUNT, "acc-nulls"]


class Checker:
    """Validates responses against the schema the document names for their path and status
    (and an aggregated view's against the aggregate list the document names beside it)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: dict[str, set[str]] = {}
        self.served = 0
        self.bodies: list[tuple[str, dict[str, Any]]] = []  # (endpoint, 200 body)

    def schema_for(self, endpoint: str, status: int) -> dict[str, Any]:
        responses = self.doc["paths"][API + endpoint]["get"]["responses"]
        assert str(status) in responses, f"{endpoint}: status {status} is not documented"
        return responses[str(status)]["content"]["application/json"]["schema"]

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(
            {**schema, "components": self.doc["components"]}, format_checker=FormatChecker()
        )

    def validate(self, instance: Any, schema: dict[str, Any]) -> None:
        errors = sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    def check(self, endpoint: str, response: Any, aggregation: str = "intervals") -> Any:
        assert response["Content-Type"].startswith("application/json"), response.content
        body = json.loads(response.content)
        self.validate(body, self.schema_for(endpoint, response.status_code))
        if response.status_code == 200:
            if endpoint == "usage-segments":
                self.validate(body, listing_schema(self.doc, aggregation))
            envelope = VIEWS[endpoint].envelope
            for item in body[envelope]:
                self.seen.setdefault(endpoint, set()).update(item)
            self.served += len(body[envelope])
            self.bodies.append((endpoint, body))
        return body


def listing_schema(doc: dict[str, Any], aggregation: str) -> dict[str, Any]:
    """The list the usage 200 names for a view: the aggregate list on aggregated views."""
    schema = doc["paths"][API + "usage-segments"]["get"]["responses"]["200"]["content"]
    names = [s["$ref"].removeprefix(REF) for s in schema["application/json"]["schema"]["anyOf"]]
    assert names == ["UsageSegmentList", AGGREGATE_LIST]
    return {"$ref": REF + (AGGREGATE_LIST if aggregation in AGGREGATED else names[0])}


def item_component(doc: dict[str, Any], endpoint: str, view: Any) -> dict[str, Any]:
    """The schema of one listed item, as the document names it for a 200 (for usage
    segments, the interval view's)."""
    content = doc["paths"][API + endpoint]["get"]["responses"]["200"]["content"]
    schema = content["application/json"]["schema"]
    ref = schema["$ref"] if "$ref" in schema else schema["anyOf"][0]["$ref"]
    listing = doc["components"]["schemas"][ref.removeprefix(REF)]
    return doc["components"]["schemas"][
        listing["properties"][view.envelope]["items"]["$ref"].removeprefix(REF)
    ]


def get(endpoint: str, token: str | None, **params: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get(API + endpoint, params, **headers)


def seed_details(rng: random.Random) -> list[dict[str, Any]]:
    details = []
    if rng.random() < 0.8:
        fields = rng.sample(ACCOUNT_FIELDS, rng.randint(0, len(ACCOUNT_FIELDS)))
        details.append({"type": "cds_current_accounts_details", "fields": fields})
    for _ in range(rng.randint(1, 2)):
        details.append({"type": "cds_bill_statements", "flavor": rng.choice(FLAVORS)})
    details.append({"type": "cds_usage", "aggregation_type": rng.choice(AGGREGATION_TYPES)})
    return details


def upstream_entry(spec: upstream.Spec, rng: random.Random, everything: bool) -> dict:
    chosen = spec.offered if everything else [i for i in spec.offered if rng.random() < 0.5]
    entry = {"type": f"{spec.type}_1", **dict.fromkeys(chosen, True)}
    for name in upstream.PROGRAM_LISTS:
        if name in spec.preselections:
            entry[name] = ["PRG-1"]  # a program scope keeps a (non-null) list
    return entry


def upstream_details(rng: random.Random) -> list[dict[str, Any]]:
    specs = rng.sample(upstream.CONSENT, rng.randint(1, 3))
    return [upstream_entry(spec, rng, everything=False) for spec in specs]


def granted_aggregation(details: list[dict[str, Any]]) -> str:
    """The view a grant serves by default: its usage entry's (seed), else intervals."""
    usage = [d for d in details if d["type"] == "cds_usage"]
    return usage[0]["aggregation_type"] if usage else "intervals"


def exercise(checker: Checker, token: str, rng: random.Random, aggregation: str) -> None:
    for endpoint in VIEWS:
        params: dict[str, Any] = {}
        view = aggregation
        if rng.random() < 0.5:
            params["limit"] = rng.randint(1, 5)
        if endpoint == "usage-segments" and rng.random() < 0.3:
            view = params["aggregation_type"] = rng.choice(AGGREGATION_TYPES)
        response = get(endpoint, token, **params)
        assert response.status_code in (200, 403), response.content
        body = checker.check(endpoint, response, view)
        if response.status_code == 200 and body["next"]:
            following = Client().get(body["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
            checker.check(endpoint, following, view)


FULLEST_SEED = [
    {"type": "cds_current_accounts_details", "fields": list(ACCOUNT_FIELDS)},
    {"type": "cds_bill_statements", "flavor": "full"},
    {"type": "cds_usage", "aggregation_type": "intervals"},
]


def fullest(checker: Checker, accounts: list[str], token_for: Any) -> None:
    """Every endpoint for the fullest grants of both vocabularies, and every aggregated view."""
    rng = random.Random(0)
    everything = [upstream_entry(spec, rng, everything=True) for spec in upstream.CONSENT]
    seed = token_for(accounts, FULLEST_SEED)
    for token in (seed, token_for(accounts, everything)):
        for endpoint in VIEWS:
            checker.check(endpoint, get(endpoint, token))
    for aggregation in AGGREGATED:
        response = get("usage-segments", seed, aggregation_type=aggregation)
        assert response.status_code == 200, response.content
        checker.check("usage-segments", response, aggregation)


# -- walking a response alongside the schema ----------------------------------------------------


def _shape(value: Any) -> Any:
    """A value's structure (keys and JSON types, not values): items of one shape walk alike."""
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _shape(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(dict.fromkeys(_shape(v) for v in value)))
    return type(value).__name__


class Walker:
    """Where in a response each component applies: follows ``$ref``, ``allOf``, the
    ``anyOf``/``oneOf`` branches the value satisfies, ``properties`` and ``items``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas = doc["components"]["schemas"]
        self.validators: dict[int, Draft202012Validator] = {}

    def valid(self, schema: dict[str, Any], instance: Any) -> bool:
        key = id(schema)
        if key not in self.validators:
            self.validators[key] = Draft202012Validator(
                {**schema, "components": self.doc["components"]}
            )
        return self.validators[key].is_valid(instance)

    def __call__(
        self, schema: dict[str, Any], instance: Any, path: tuple = ()
    ) -> Iterator[tuple[str, tuple, Any]]:
        """(component, path, value) for every component applied at a place in ``instance``."""
        if "$ref" in schema:
            name = schema["$ref"].removeprefix(REF)
            yield name, path, instance
            yield from self(self.schemas[name], instance, path)
        for sub in schema.get("allOf", ()):
            yield from self(sub, instance, path)
        for sub in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
            if self.valid(sub, instance):
                yield from self(sub, instance, path)
        if isinstance(instance, dict):
            for name, sub in schema.get("properties", {}).items():
                if name in instance:
                    yield from self(sub, instance[name], (*path, name))
        elif isinstance(instance, list) and "items" in schema:
            shapes = set()
            for n, item in enumerate(instance):
                shape = _shape(item)
                if shape not in shapes:
                    shapes.add(shape)
                    yield from self(schema["items"], item, (*path, n))


def declared(schema: dict[str, Any]) -> set[str]:
    """The keys a component names: its properties, or those of its inline branches."""
    names = set(schema.get("properties", ()))
    for branch in schema.get("oneOf", ()):
        names |= set(branch.get("properties", ()))
    return names


def item_components(doc: dict[str, Any]) -> set[str]:
    """Every component that describes (part of) an item: all but the lists and errors."""
    return {
        name
        for name in doc["components"]["schemas"]
        if not name.endswith("List") and not name.startswith("Error")
    }


# -- real responses against the schema --------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_responses_for_random_grants_match_the_schema(doc, data, token_for, seed) -> None:
    rng = random.Random(seed)
    checker = Checker(doc)
    for details in (seed_details(rng), upstream_details(rng)):
        accounts = rng.sample(data, rng.randint(1, len(data)))
        exercise(checker, token_for(accounts, details), rng, granted_aggregation(details))
    assert checker.served  # something was served and validated


def test_fullest_grants_match_and_every_field_is_served(doc, data, token_for) -> None:
    """Every field the schema lists, top-level or nested, is served by some grant (no
    invented fields), and the fullest grants of both vocabularies validate."""
    checker = Checker(doc)
    fullest(checker, data, token_for)
    for endpoint, view in VIEWS.items():
        properties = set(item_component(doc, endpoint, view)["properties"])
        assert checker.seen[endpoint] == properties, endpoint

    walk = Walker(doc)
    keys: dict[str, set[str]] = {}
    for endpoint, body in checker.bodies:
        for name, _, value in walk(checker.schema_for(endpoint, 200), body):
            keys.setdefault(name, set())
            if isinstance(value, dict):
                keys[name] |= set(value)
    schemas = doc["components"]["schemas"]
    assert set(keys) >= item_components(doc), "components no response exercised"
    for name in item_components(doc):
        assert keys[name] >= declared(schemas[name]), (name, declared(schemas[name]) - keys[name])


def test_error_responses_match_the_schema(doc, data, token_for) -> None:
    checker = Checker(doc)
    accounts_only = token_for(["acc-sample-r1"], [{"type": "cds_current_accounts_details"}])
    bills = token_for(["acc-sample-r1"], [{"type": "cds_bill_statements"}])
    usage = token_for(
        ["acc-sample-r1"], [{"type": "cds_usage", "aggregation_type": "daily_aggregates"}]
    )

    unauthenticated = get("accounts", None)
    assert unauthenticated.status_code == 401
    assert unauthenticated["WWW-Authenticate"].startswith("Bearer ")
    checker.check("accounts", unauthenticated)
    assert (
        "WWW-Authenticate" in doc["paths"][API + "accounts"]["get"]["responses"]["401"]["headers"]
    )
    checker.check("accounts", get("accounts", "not-a-token"))

    for response in (
        get("accounts", accounts_only, bogus="1"),
        get("accounts", accounts_only, access_token="x"),
        get("accounts", accounts_only, limit="0"),
        get("bill-statements", bills, before="yesterday"),
    ):
        assert response.status_code == 400
        checker.check(response.request["PATH_INFO"].removeprefix(API), response)

    for endpoint, token, params in (
        ("bill-statements", accounts_only, {}),
        ("usage-segments", usage, {"aggregation_type": "intervals"}),
    ):
        response = get(endpoint, token, **params)
        assert response.status_code == 403
        assert "insufficient_scope" in response["WWW-Authenticate"]
        checker.check(endpoint, response)

    not_allowed = Client().post(API + "accounts", HTTP_AUTHORIZATION=f"Bearer {accounts_only}")
    assert not_allowed.status_code == 405
    assert not_allowed["Allow"] == "GET, HEAD"
    checker.check("accounts", not_allowed)

    missing = Client().get(API + "no-such-endpoint")
    assert missing.status_code == 404
    checker.validate(json.loads(missing.content), checker.schema_for("accounts", 404))

    def unreachable(*args: Any) -> None:
        raise OperationalError("could not connect to server")

    with connection.execute_wrapper(unreachable):
        outage = get("accounts", accounts_only)
    assert outage.status_code == 503
    assert "Retry-After" in outage
    checker.check("accounts", outage)

    with override_settings(CDS_THROTTLE_CLIENT_RATE="1/min"):
        get("accounts", accounts_only)
        throttled = get("accounts", accounts_only)
    assert throttled.status_code == 429
    assert "Retry-After" in throttled
    checker.check("accounts", throttled)


# -- the validator descends into every nested object --------------------------------------------

UNLISTED = "x_unlisted"
TEXT_ALLOWED = {("CostDetail", "cost")}  # "decimal or string" (CDS-WG3-01 §10.6.3)


def _leaves(errors: Any) -> Iterator[Any]:
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _at(body: Any, path: tuple) -> Any:
    for step in path:
        body = body[step]
    return body


def _enum_of(schema: dict[str, Any]) -> list[Any] | None:
    return schema.get("enum") or schema.get("items", {}).get("enum")


def _set(key: str, new: Any) -> Any:
    return lambda value: value.update({key: new})


def _as_text(key: str) -> Any:
    return lambda value: value.update({key: str(value[key])})


def _drop(key: str) -> Any:
    return lambda value: value.pop(key)


def _append(key: str | None, new: Any) -> Any:
    return lambda value: (value if key is None else value[key]).append(new)


def mutations(name: str, schema: dict[str, Any], value: Any) -> Iterator[tuple]:
    """Breaks of one value a component describes: (what, change, where, keywords), where
    ``change`` edits the value in place and the validator must report one of ``keywords``
    exactly at ``where`` (relative to the value)."""
    if isinstance(value, list):  # a value set
        yield "a value that is no value object", _append(None, "x"), (len(value),), {"type"}
        shown = [n for n, item in enumerate(value) if item is not None]
        if shown:
            n = shown[0]

            def unknown(v: list, n: int = n) -> None:
                v[n] = {UNLISTED: 1}

            yield "an unknown value object", unknown, (n,), {"required", "additionalProperties"}
        return
    yield "an unlisted key", _set(UNLISTED, 1), (), {"additionalProperties"}
    for key in schema.get("required", ()):
        yield f"no {key}", _drop(key), (), {"required"}
    properties = schema.get("properties", {})
    for key, item in value.items():
        number = isinstance(item, int | float) and not isinstance(item, bool)
        if number and (name, key) not in TEXT_ALLOWED:
            yield f"{key} as text", _as_text(key), (key,), {"type"}
        enum = _enum_of(properties.get(key, {}))
        if enum and isinstance(item, str):
            yield f"{key} not enumerated", _set(key, "x"), (key,), {"enum"}
        elif enum and isinstance(item, list):
            yield f"{key}: a type not enumerated", _append(key, "x"), (key, len(item)), {"enum"}


def test_a_broken_nested_value_fails_validation_for_every_component(doc, data, token_for) -> None:
    """A negative control for each component, nested ones included, in real responses: a copy
    of a real body with one value of that component broken fails against the schema the
    document names, and the validator reports it at that value (it descended there)."""
    checker = Checker(doc)
    fullest(checker, [RICH_ACCOUNT], token_for)
    walk = Walker(doc)
    schemas = doc["components"]["schemas"]
    found: dict[str, tuple[str, dict, tuple]] = {}
    for endpoint, body in checker.bodies:
        for name, path, _ in walk(checker.schema_for(endpoint, 200), body):
            if name in item_components(doc) and name not in found and len(path) >= 2:
                # The one item holding the value, as a page of its own.
                envelope, n = path[:2]
                page = {**body, envelope: [body[envelope][n]]}
                found[name] = (endpoint, page, (envelope, 0, *path[2:]))
    assert set(found) == item_components(doc), item_components(doc) - set(found)

    broken = 0
    for name, (endpoint, page, path) in sorted(found.items()):
        validator = checker.validator(checker.schema_for(endpoint, 200))
        assert validator.is_valid(page), name
        for what, change, where, keywords in mutations(name, schemas[name], _at(page, path)):
            copied = copy.deepcopy(page)
            change(_at(copied, path))
            reported = {
                (leaf.validator, tuple(leaf.absolute_path))
                for leaf in _leaves(validator.iter_errors(copied))
            }
            assert reported, f"{name}: {what} at {path} validated"
            expected = {(keyword, (*path, *where)) for keyword in keywords}
            assert reported & expected, f"{name}: {what}: {sorted(reported)}"
            broken += 1
    assert broken > 3 * len(found)


def test_aggregated_views_are_described_exactly(doc, data, token_for) -> None:
    """Each aggregated view validates against the aggregate list; what only intervals may
    hold (readings, supply mix, average demand, several value sets, stored format ids and
    qualities, decimal intervals) fails there."""
    checker = Checker(doc)
    token = token_for([RICH_ACCOUNT], FULLEST_SEED)
    intervals = checker.check("usage-segments", get("usage-segments", token))
    aggregate_list = listing_schema(doc, AGGREGATED[0])
    validator = checker.validator(aggregate_list)
    assert intervals["usage_segments"]
    assert not validator.is_valid(intervals)  # stored formats are not an aggregate's

    for aggregation in AGGREGATED:
        response = get("usage-segments", token, aggregation_type=aggregation)
        body = checker.check("usage-segments", response, aggregation)
        item = body["usage_segments"][0]
        assert [f["type"] for f in item["formats"]] == [
            "electric_usage",
            "electric_demand",
            "water_usage",
            "natural_gas_usage",
            "fuel_oil_usage",
            "cost",
        ]
        assert isinstance(item["interval"], int)

        def page(item: dict = item, body: dict = body, **changes: Any) -> dict[str, Any]:
            return {**body, "usage_segments": [{**copy.deepcopy(item), **changes}]}

        formats, values = item["formats"], item["values"]
        reading = intervals["usage_segments"][0]["formats"][-1]
        assert reading["type"] == "meter_readings"
        for bad in (
            page(values=values * 2),
            page(values=[[{"r": "1"}, *values[0][1:]]]),
            page(values=[[{"sm": 0.5}, *values[0][1:]]]),
            page(formats=[*formats, {**reading, "id": f"{reading['id']}:{aggregation}"}]),
            page(formats=[{**formats[0], "quality": "revenue"}, *formats[1:]]),
            page(formats=[{**formats[0], "id": "stored-id"}, *formats[1:]]),
            page(formats=[formats[0], {**formats[1], "demand_type": "average"}, *formats[2:]]),
            page(cds_usagesegment_id="us-x1-10"),
            page(interval=3600.5),
            page(formats=[], values=[[]]),
        ):
            assert not validator.is_valid(bad), bad["usage_segments"][0]


# -- the document itself -----------------------------------------------------------------------

NESTED_MODELS = {
    "Entity": imported.Entity,
    "AccountContact": imported.Contact,
    "AccountProgram": imported.AccountProgram,
    "ServiceProgram": imported.ServiceProgram,
    "Premise": imported.Premise,
    "MeterApp": imported.MeterApp,
    "NewCharge": imported.NewCharge,
    "UsageDetail": imported.UsageDetail,
    "CostDetail": imported.CostDetail,
    "LineItem": imported.LineItem,
    "UsageFormat": imported.ValueFormat,
}


def test_nested_components_name_exactly_the_keys_the_import_stores(doc) -> None:
    """Nested objects are served as imported: a component lists the import model's keys and
    requires the ones it requires (a key the import adds must be described, or this fails)."""
    schemas = doc["components"]["schemas"]
    for name, model in NESTED_MODELS.items():
        fields = {f.alias or key: f for key, f in model.model_fields.items()}
        assert set(schemas[name]["properties"]) == set(fields), name
        required = {key for key, f in fields.items() if f.is_required()}
        assert set(schemas[name]["required"]) == required, name
        assert schemas[name]["additionalProperties"] is False, name
    value_keys = set(enums.VALUE_KEYS.values()) | {"ci", "eacs"}
    assert declared(schemas["UsageValue"]) == value_keys


def _untyped(schema: Any, path: str) -> Iterator[str]:
    """Places where a schema admits any object (no properties or branches say which)."""
    if isinstance(schema, dict):
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "object" in kinds and not {"properties", "oneOf", "anyOf", "allOf"} & set(schema):
            yield path
        if "object" in kinds and schema.get("additionalProperties", False) is not False:
            yield path + " (additionalProperties)"
        for key, value in schema.items():
            yield from _untyped(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            yield from _untyped(value, f"{path}/{n}")


def test_no_component_admits_an_untyped_object(doc) -> None:
    assert list(_untyped(doc["components"]["schemas"], "#")) == []


def test_the_validator_catches_what_the_schema_forbids(doc) -> None:
    """A negative control: the checks above are not vacuous."""
    checker = Checker(doc)
    schema = {"$ref": REF + "BillStatementList"}
    good = {
        "cds_billstatement_id": "bst-1",
        "cds_created": "2026-01-01T00:00:00Z",
        "cds_modified": "2026-01-01T00:00:00Z",
        "cds_synced": "2026-01-01T00:00:00Z",
        "cds_account_id": "acc-1",
        "statement_date": "2026-01-01",
        "amount_due": 1.5,
    }
    checker.validate({"bill_statements": [good], "next": None, "previous": None}, schema)
    for bad in (
        {**good, "amount_due": "1.50"},  # a decimal as a string
        {**good, "surprise": 1},  # a field the schema does not list
        {k: v for k, v in good.items() if k != "statement_date"},  # a required one missing
        {**good, "cds_modified": "2026-01-01T00:00:00+01:00"},  # not UTC
    ):
        with pytest.raises(AssertionError):
            checker.validate({"bill_statements": [bad], "next": None, "previous": None}, schema)
    with pytest.raises(AssertionError):
        checker.validate({"bill_statements": []}, schema)  # no next/previous
    with pytest.raises(AssertionError):
        checker.validate({"error": "invalid_request"}, {"$ref": REF + "Error401"})


def test_every_query_parameter_a_view_takes_is_documented(doc) -> None:
    for endpoint, view in VIEWS.items():
        known = {f.param for f in view.filters} | set(PAGING_PARAMS) | set(view.extra_params)
        documented = {p["name"] for p in doc["paths"][API + endpoint]["get"]["parameters"]}
        assert documented == known, endpoint


def test_governance_is_on_every_operation_and_field(doc) -> None:
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {API + endpoint for endpoint in VIEWS}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for endpoint in VIEWS:
        operation = doc["paths"][API + endpoint]["get"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert set(operation["x-cds-governed-by"]) == {"seed", "upstream"}
        assert operation["x-cds-governed-by"]["upstream"].startswith("include_")
        for status in ("200", "400", "401", "403", "404", "405", "429", "503"):
            assert status in operation["responses"], (endpoint, status)
    accounts = doc["components"]["schemas"]["Account"]["properties"]
    assert accounts["account_number"]["x-cds-governed-by"] == {
        "seed": "cds_current_accounts_details: shown if fields names account_number",
        "upstream": "shown with include_account_numbers",
    }
    statement = doc["components"]["schemas"]["BillStatement"]
    assert statement["properties"]["amount_due"]["type"] == "number"
    assert "amount_due" not in statement["required"]  # usage_only hides it
    assert "line_items" in doc["components"]["schemas"]["BillSection"]["properties"]
    for endpoint, view in VIEWS.items():
        for name, schema in item_component(doc, endpoint, view)["properties"].items():
            assert set(schema["x-cds-governed-by"]) == {"seed", "upstream"}, (endpoint, name)


# -- public schema and docs ------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_schema_and_docs_answer_without_a_token_and_use_only_local_assets(db) -> None:
    schema = Client().get(SCHEMA_URL)
    assert schema.status_code == 200
    assert json.loads(schema.content)["info"]["title"]

    docs = Client().get(DOCS_URL)
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert not re.search(r"https?://", html)
    parser = _Assets()
    parser.feed(html)
    assert parser.urls
    static = "/" + settings.STATIC_URL.lstrip("/")
    for url in parser.urls:
        if url.startswith(static):
            assert finders.find(url.removeprefix(static)), url
        else:
            assert url.startswith(DOCS_URL), url  # the page's own init script
            script = Client().get(url)
            assert script.status_code == 200
            assert not re.search(r"https?://", script.content.decode())
