"""The OpenAPI document (``/cds-customerdata-api/v1/schema``) against real responses.

Responses of the test client, for varied grants of both vocabularies, are validated with
``jsonschema`` (an independent JSON Schema 2020-12 validator) against the schemas the
served document itself names for each path and status; and the schema and its docs page
are public and load nothing from elsewhere.
"""

import json
import random
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client
from jsonschema import Draft202012Validator, FormatChecker

from accounts.models import ACCOUNT_FIELDS
from accounts.views import AccountsView, MeterDevicesView, ServiceContractsView, ServicePointsView
from bills.views import BillSectionsView, BillStatementsView
from cdsapi.api.pagination import PAGING_PARAMS
from cdsapi.grants import upstream
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
SAMPLE_ACCOUNTS = ["acc-r1", "acc-r2", "acc-r3", "acc-c0", "acc-c1", "acc-c2"]
FLAVORS = ("full", "usage_only", "amount_due_only")


@pytest.fixture
def doc(db) -> dict[str, Any]:
    response = Client().get(SCHEMA_URL)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


@pytest.fixture
def data(db, sample_path) -> list[str]:
    """The committed sample, and one account (made with the factories) whose optional
    fields are all unknown (null)."""
    call_command("cds_import", str(sample_path), "--no-progress")
    account = AccountFactory(cds_account_id="acc-nulls")
    AccountVersionFactory(
        account=account,
        **{name: None for name in ACCOUNT_FIELDS},
    )
    return [*SAMPLE_ACCOUNTS, "acc-nulls"]


class Checker:
    """Validates responses against the schema the document names for their path and status."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: dict[str, set[str]] = {}
        self.served = 0

    def schema_for(self, endpoint: str, status: int) -> dict[str, Any]:
        responses = self.doc["paths"][API + endpoint]["get"]["responses"]
        assert str(status) in responses, f"{endpoint}: status {status} is not documented"
        return responses[str(status)]["content"]["application/json"]["schema"]

    def validate(self, instance: Any, schema: dict[str, Any]) -> None:
        validator = Draft202012Validator(
            {**schema, "components": self.doc["components"]}, format_checker=FormatChecker()
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    def check(self, endpoint: str, response: Any) -> Any:
        assert response["Content-Type"].startswith("application/json"), response.content
        body = json.loads(response.content)
        self.validate(body, self.schema_for(endpoint, response.status_code))
        if response.status_code == 200:
            envelope = VIEWS[endpoint].envelope
            for item in body[envelope]:
                self.seen.setdefault(endpoint, set()).update(item)
            self.served += len(body[envelope])
        return body


def item_component(doc: dict[str, Any], endpoint: str, view: Any) -> dict[str, Any]:
    """The schema of one listed item, as the document names it for a 200."""
    content = doc["paths"][API + endpoint]["get"]["responses"]["200"]["content"]
    listing = doc["components"]["schemas"][
        content["application/json"]["schema"]["$ref"].removeprefix(REF)
    ]
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


def exercise(checker: Checker, token: str, rng: random.Random) -> None:
    for endpoint in VIEWS:
        params: dict[str, Any] = {}
        if rng.random() < 0.5:
            params["limit"] = rng.randint(1, 5)
        if endpoint == "usage-segments" and rng.random() < 0.3:
            params["aggregation_type"] = rng.choice(AGGREGATION_TYPES)
        response = get(endpoint, token, **params)
        assert response.status_code in (200, 403), response.content
        body = checker.check(endpoint, response)
        if response.status_code == 200 and body["next"]:
            checker.check(
                endpoint, Client().get(body["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
            )


# -- real responses against the schema --------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_responses_for_random_grants_match_the_schema(doc, data, token_for, seed) -> None:
    rng = random.Random(seed)
    checker = Checker(doc)
    for details in (seed_details(rng), upstream_details(rng)):
        accounts = rng.sample(data, rng.randint(1, len(data)))
        exercise(checker, token_for(accounts, details), rng)
    assert checker.served  # something was served and validated


def test_fullest_grants_match_and_every_field_is_served(doc, data, token_for) -> None:
    """Every field the schema lists is served by some grant (no invented fields), and the
    fullest grants of both vocabularies validate."""
    rng = random.Random(0)
    checker = Checker(doc)
    seed = [
        {"type": "cds_current_accounts_details", "fields": list(ACCOUNT_FIELDS)},
        {"type": "cds_bill_statements", "flavor": "full"},
        {"type": "cds_usage"},
    ]
    everything = [upstream_entry(spec, rng, everything=True) for spec in upstream.CONSENT]
    for details in (seed, everything):
        token = token_for(data, details)
        for endpoint in VIEWS:
            checker.check(endpoint, get(endpoint, token))
    for endpoint, view in VIEWS.items():
        properties = set(item_component(doc, endpoint, view)["properties"])
        assert checker.seen[endpoint] == properties, endpoint


def test_error_responses_match_the_schema(doc, data, token_for) -> None:
    checker = Checker(doc)
    accounts_only = token_for(["acc-r1"], [{"type": "cds_current_accounts_details"}])
    bills = token_for(["acc-r1"], [{"type": "cds_bill_statements"}])
    usage = token_for(["acc-r1"], [{"type": "cds_usage", "aggregation_type": "daily_aggregates"}])

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


# -- the document itself -----------------------------------------------------------------------


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
        for status in ("200", "400", "401", "403", "404", "405", "503"):
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
