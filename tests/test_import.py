"""``cds_import``: round trip, idempotency, versions, exactness and every class of bad input."""

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command, load_command_class
from django.db import connection

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from accounts.serializers import (
    AccountSerializer,
    MeterDeviceSerializer,
    ServiceContractSerializer,
    ServicePointSerializer,
)
from bills.models import BillSection, BillStatement
from bills.serializers import BillSectionSerializer, BillStatementSerializer
from cdsapi import exactjson
from cdsapi.importer.errors import DocumentError, ErrorCollector
from cdsapi.importer.loader import load_document, parse_document
from usage.models import UsageSegment
from usage.serializers import UsageSegmentSerializer

META = {
    "cds_created": "2025-01-01T00:00:00Z",
    "cds_modified": "2025-01-01T00:00:00Z",
    "cds_synced": "2025-01-02T00:00:00Z",
}


def minimal_document() -> dict[str, Any]:
    """One of everything, small enough to read."""
    return {
        "accounts": [
            {
                "cds_account_id": "acc-1",
                **META,
                "account_number": "1000-1",
                "account_name": "Ada",
                "account_status": "active",
            }
        ],
        "service_contracts": [
            {
                "cds_servicecontract_id": "sc-1",
                **META,
                "cds_account_id": "acc-1",
                "contract_types": ["utility_service"],
                "contract_status": "active",
                "service_types": ["electric"],
            }
        ],
        "service_points": [
            {
                "cds_servicepoint_id": "sp-1",
                **META,
                "servicepoint_number": None,
                "servicepoint_types": ["electric"],
                "latitude": "45.50",
                "current_servicecontracts": ["sc-1"],
                "timezone": "America/Denver",
            }
        ],
        "meter_devices": [
            {
                "cds_meterdevice_id": "md-1",
                **META,
                "meter_types": ["ami_meter"],
                "current_servicepoints": ["sp-1"],
            }
        ],
        "bill_statements": [
            {
                "cds_billstatement_id": "bst-1",
                **META,
                "cds_account_id": "acc-1",
                "statement_date": "2025-01-05",
                "currency": "USD",
                "amount_due": Decimal("12.30"),
                "amount_due_date": "2025-01-26",
            }
        ],
        "bill_sections": [
            {
                "cds_billsection_id": "bsec-1",
                **META,
                "cds_billstatement_id": "bst-1",
                "cds_account_id": "acc-1",
                "section_types": ["electric"],
                "start_date": "2024-12-01",
                "end_date": "2024-12-31",
                "currency": "USD",
                "distribution_entity": None,
                "supply_entity": None,
                "usage_details": [],
                "cost_details": [],
            }
        ],
        "usage_segments": [
            {
                "cds_usagesegment_id": "us-1",
                **META,
                "related_accounts": ["acc-1"],
                "related_meterdevices": ["md-1"],
                "segment_start": "2025-01-01T00:00:00Z",
                "segment_end": "2025-01-01T00:30:00Z",
                "interval": 900,
                "formats": [{"id": "f", "type": "electric_usage", "units": "kWh"}],
                "values": [[{"eu": Decimal("0.40")}], [None]],
            }
        ],
        "customers": [{"username": "ada", "email": "ada@example.com", "accounts": ["acc-1"]}],
    }


def load(doc: dict[str, Any]) -> Any:
    return load_document(parse_document(exactjson.dumps(doc)))


def database_snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every project table, for before/after comparisons."""
    snapshot = {}
    for app in ("accounts", "bills", "usage"):
        for model in apps.get_app_config(app).get_models():
            rows = model.objects.order_by("pk").values()
            snapshot[model._meta.label] = [exactjson.dumps(r, default=str) for r in rows]
            for field in model._meta.many_to_many:
                through = field.remote_field.through
                snapshot[through._meta.label] = sorted(
                    str(r) for r in through.objects.values_list()
                )
    return snapshot


@pytest.mark.django_db
def test_round_trip_serves_the_same_objects_that_were_imported(sample_path: Path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")
    doc = exactjson.loads(sample_path.read_text())
    internal = {"cds_account_id", "cds_meterdevice_id"}
    cases = [
        (
            "service_contracts",
            ServiceContract,
            "cds_servicecontract_id",
            ServiceContractSerializer,
            {"account_number"},
        ),
        (
            "service_points",
            ServicePoint,
            "cds_servicepoint_id",
            ServicePointSerializer,
            {"timezone"},
        ),
        ("meter_devices", MeterDevice, "cds_meterdevice_id", MeterDeviceSerializer, set()),
        (
            "bill_statements",
            BillStatement,
            "cds_billstatement_id",
            BillStatementSerializer,
            {"account_number"},
        ),
        (
            "bill_sections",
            BillSection,
            "cds_billsection_id",
            BillSectionSerializer,
            {"account_number"},
        ),
        ("usage_segments", UsageSegment, "cds_usagesegment_id", UsageSegmentSerializer, internal),
    ]
    for kind, model, key, serializer, ignored in cases:
        for obj in doc[kind]:
            served = serializer(model.objects.get(**{key: obj[key]})).data
            assert_same_object(obj, served, ignored | ({"cds_account_id"} - set(served)))
    for obj in doc["accounts"]:
        version = AccountVersion.objects.get(
            account__cds_account_id=obj["cds_account_id"], cds_modified=obj["cds_modified"]
        )
        assert_same_object(obj, AccountSerializer(version).data, set())


def assert_same_object(given: dict, served: dict, ignored: set[str]) -> None:
    for key, value in given.items():
        if key in ignored:
            continue
        assert exactjson.dumps(served[key], sort_keys=True) == exactjson.dumps(
            value, sort_keys=True
        ), key
    for key in set(served) - set(given):
        assert served[key] is None, key


@pytest.mark.django_db
def test_importing_the_same_document_twice_changes_nothing(sample_path: Path) -> None:
    call_command("cds_import", str(sample_path), "--no-progress")
    before = database_snapshot()
    result = load_document(parse_document(sample_path.read_bytes()))
    assert not result.changed
    assert database_snapshot() == before


@pytest.mark.django_db
def test_a_changed_object_is_updated_in_place() -> None:
    doc = minimal_document()
    load(doc)
    doc["bill_statements"][0]["amount_due"] = "12.35"
    result = load(doc)
    assert result.counts["bill_statements"].updated == 1
    assert str(BillStatement.objects.get().amount_due) == "12.35"
    assert BillStatement.objects.count() == 1


@pytest.mark.django_db
def test_a_changed_account_becomes_a_new_version_and_keeps_the_old_one() -> None:
    doc = minimal_document()
    load(doc)
    changed = {
        **doc["accounts"][0],
        "cds_modified": "2025-03-01T00:00:00Z",
        "account_name": "Ada L.",
    }
    result = load({"accounts": [changed]})
    assert result.counts["accounts"].created == 1
    names = list(
        AccountVersion.objects.order_by("cds_modified").values_list("account_name", flat=True)
    )
    assert names == ["Ada", "Ada L."]
    assert Account.objects.count() == 1


@pytest.mark.django_db
def test_changed_links_count_as_an_update() -> None:
    doc = minimal_document()
    load(doc)
    doc["service_points"][0]["current_servicecontracts"] = []
    doc["service_points"][0]["previous_servicecontracts"] = ["sc-1"]
    result = load(doc)
    assert result.counts["service_points"].updated == 1
    point = ServicePoint.objects.get()
    assert list(
        point.previous_servicecontracts.values_list("cds_servicecontract_id", flat=True)
    ) == ["sc-1"]
    assert not point.current_servicecontracts.exists()


@pytest.mark.django_db
def test_decimals_given_as_numbers_or_strings_are_kept_exactly() -> None:
    load(minimal_document())
    assert str(BillStatement.objects.get().amount_due) == "12.30"
    assert str(ServicePoint.objects.get().latitude) == "45.50"
    assert UsageSegment.objects.get().values_json == '[[{"eu":0.40}],[null]]'


@pytest.mark.django_db
def test_internal_links_default_to_the_only_related_object() -> None:
    load(minimal_document())
    segment = UsageSegment.objects.get()
    assert segment.account.cds_account_id == "acc-1"
    assert segment.meter.cds_meterdevice_id == "md-1"


@pytest.mark.django_db
def test_customers_are_linked_to_their_accounts() -> None:
    load(minimal_document())
    assert list(Account.objects.get().holders.values_list("username", flat=True)) == ["ada"]


@pytest.mark.django_db
def test_a_reference_to_an_object_already_in_the_database_is_accepted() -> None:
    doc = minimal_document()
    load(doc)
    later = {"bill_statements": [{**doc["bill_statements"][0], "cds_billstatement_id": "bst-2"}]}
    assert load(later).counts["bill_statements"].created == 1


def broken(path: list[Any], value: Any = ..., delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(minimal_document())
    target = doc
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def with_usage_detail(**changes: Any) -> dict[str, Any]:
    detail = {"id": "ud-1", "name": "kWh", "types": ["electric_usage"], "value": 1, "units": "kWh"}
    detail.update(changes)
    return broken(["bill_sections", 0, "usage_details"], [detail])


def with_second_account(path: list[Any], value: Any) -> dict[str, Any]:
    doc = broken(path, value)
    doc["accounts"].append({**doc["accounts"][0], "cds_account_id": "acc-2"})
    return doc


def with_null_array(kind: str) -> dict[str, Any]:
    doc = minimal_document()
    if kind == "charge":
        doc["bill_statements"][0]["new_charges"] = [
            {
                "id": "nc-1",
                "name": "Electric",
                "types": ["electric_total"],
                "amount": 1,
                "included_in_amount_due": True,
                "related_billsections": None,
            }
        ]
    else:
        doc["usage_segments"][0]["formats"][0][kind] = None
    return doc


NULL_ARRAYS = [
    ("service_contracts", "service_programs"),
    ("service_points", "premises"),
    ("meter_devices", "meter_apps"),
    ("bill_statements", "new_charges"),
    ("bill_statements", "account_programs"),
    ("bill_sections", "line_items"),
]

BAD_DOCUMENTS = [
    *(
        pytest.param(
            broken([kind, 0, name], None),
            f"{kind}[0].{name}",
            "expected an array, got null",
            id=f"null-{name}",
        )
        for kind, name in NULL_ARRAYS
    ),
    pytest.param(
        with_null_array("charge"),
        "bill_statements[0].new_charges[0].related_billsections",
        "expected an array, got null",
        id="null-related-billsections",
    ),
    pytest.param(
        with_null_array("related_meterdevices"),
        "usage_segments[0].formats[0].related_meterdevices",
        "expected an array, got null",
        id="null-format-meters",
    ),
    pytest.param(
        with_null_array("indexes"),
        "usage_segments[0].formats[0].indexes",
        "expected an array, got null",
        id="null-format-indexes",
    ),
    pytest.param(
        broken(["accounts", 0, "cds_modified"], "9999-12-31T23:59:59-01:00"),
        "accounts[0].cds_modified",
        "out of range once converted to UTC",
        id="datetime-overflowing-utc",
    ),
    pytest.param(
        broken(["accounts", 0, "cds_modified"], "0999-12-31T00:00:00Z"),
        "accounts[0].cds_modified",
        "is out of range (from 1000 to 8999)",
        id="datetime-before-1000",
    ),
    pytest.param(
        broken(["accounts", 0, "account_name"], "nul\x00byte"),
        "accounts[0].account_name",
        "a NUL character cannot be stored",
        id="nul-byte",
    ),
    pytest.param(
        broken(["accounts", 0, "cds_created"], delete=True),
        "accounts[0].cds_created",
        "required field is missing",
        id="missing-field",
    ),
    pytest.param(
        broken(["accounts", 0, "nickname"], "x"),
        "accounts[0].nickname",
        "unknown field",
        id="unknown-field",
    ),
    pytest.param(broken(["account"], []), "account", "unknown field", id="unknown-list"),
    pytest.param(
        broken(["accounts", 0, "account_status"], "open"),
        "accounts[0].account_status",
        "expected 'active', 'suspended', 'closed' or 'unknown', got 'open'",
        id="bad-enum",
    ),
    pytest.param(
        broken(["accounts", 0, "account_name"], 7),
        "accounts[0].account_name",
        "expected a string, got a number",
        id="wrong-type",
    ),
    pytest.param(
        broken(["service_contracts", 0, "contract_types"], "utility_service"),
        "service_contracts[0].contract_types",
        "expected a list",
        id="not-a-list",
    ),
    pytest.param(
        broken(["bill_statements", 0, "statement_date"], "05/01/2025"),
        "bill_statements[0].statement_date",
        "expected a date YYYY-MM-DD, got '05/01/2025'",
        id="bad-date",
    ),
    pytest.param(
        broken(["bill_statements", 0, "statement_date"], "2025-02-30"),
        "bill_statements[0].statement_date",
        "not a calendar date: '2025-02-30'",
        id="impossible-date",
    ),
    pytest.param(
        broken(["accounts", 0, "cds_modified"], "2025-01-01T00:00:00"),
        "accounts[0].cds_modified",
        "expected an RFC 3339 datetime with timezone",
        id="naive-datetime",
    ),
    pytest.param(
        broken(["bill_statements", 0, "amount_due"], "12,30"),
        "bill_statements[0].amount_due",
        "expected a number, got the string '12,30'",
        id="not-a-number",
    ),
    pytest.param(
        broken(["bill_statements", 0, "amount_due"], "NaN"),
        "bill_statements[0].amount_due",
        "expected a finite number",
        id="nan",
    ),
    pytest.param(
        broken(["bill_statements", 0, "currency"], "usd"),
        "bill_statements[0].currency",
        "does not have the expected format",
        id="bad-currency",
    ),
    pytest.param(
        broken(["service_points", 0, "timezone"], "Mars/Olympus"),
        "service_points[0].timezone",
        "unknown IANA timezone 'Mars/Olympus'",
        id="bad-timezone",
    ),
    pytest.param(
        broken(["usage_segments", 0, "values", 1, 0], {"eu": "lots"}),
        "usage_segments[0].values[1][0].eu",
        "expected a number, got the string 'lots'",
        id="value-not-a-number",
    ),
    pytest.param(
        broken(["usage_segments", 0, "values", 1, 0], {"gu": 1}),
        "usage_segments[0].values[1][0]",
        "expected the key 'eu'",
        id="wrong-value-key",
    ),
    pytest.param(
        broken(["usage_segments", 0, "values", 1], [None, None]),
        "usage_segments[0].values[1]",
        "expected 1 values (one per format), got 2",
        id="wrong-value-set-width",
    ),
    pytest.param(
        broken(["usage_segments", 0, "segment_end"], "2025-01-01T01:00:00Z"),
        "usage_segments[0].segment_end",
        "expected 2025-01-01T00:30:00+00:00",
        id="segment-end-mismatch",
    ),
    pytest.param(
        broken(["usage_segments", 0, "formats", 0, "units"], "therm"),
        "usage_segments[0].formats[0]",
        "a electric_usage format needs units",
        id="bad-format-units",
    ),
    pytest.param(
        broken(["usage_segments", 0, "interval"], 0),
        "usage_segments[0].interval",
        "interval must be a positive number",
        id="bad-interval",
    ),
    pytest.param(
        broken(["usage_segments", 0, "related_accounts"], []),
        "usage_segments[0].cds_account_id",
        "required when related_accounts",
        id="no-account-for-segment",
    ),
    pytest.param(
        broken(["service_contracts", 0, "cds_account_id"], "acc-404"),
        "service_contracts[0].cds_account_id",
        "unknown cds_account_id 'acc-404'",
        id="unknown-reference",
    ),
    pytest.param(
        broken(["bill_sections", 0, "related_meterdevices"], ["md-1", "md-9"]),
        "bill_sections[0].related_meterdevices",
        "unknown cds_meterdevice_id 'md-9'",
        id="unknown-related-id",
    ),
    pytest.param(
        broken(["bill_sections", 0, "end_date"], "2024-11-30"),
        "bill_sections[0]",
        "end_date is before start_date",
        id="dates-out-of-order",
    ),
    pytest.param(
        {**minimal_document(), "meter_devices": minimal_document()["meter_devices"] * 2},
        "meter_devices[1]",
        "duplicate of meter_devices[0]",
        id="duplicate-id",
    ),
    pytest.param(
        with_usage_detail(value="$666.66"),
        "bill_sections[0].usage_details[0].value",
        "expected a number, got the string '$666.66'",
        id="usage-detail-value-not-a-number",
    ),
    pytest.param(
        with_usage_detail(units=None),
        "bill_sections[0].usage_details[0].units",
        "'percent', got None",
        id="usage-detail-without-units",
    ),
    pytest.param(
        with_second_account(["bill_sections", 0, "cds_account_id"], "acc-2"),
        "bill_sections[0].cds_account_id",
        "'acc-2' is not the account of its statement",
        id="section-of-another-accounts-statement",
    ),
    pytest.param(
        broken(["customers", 0, "username"], "ada lovelace"),
        "customers[0].username",
        "does not have the expected format",
        id="bad-username",
    ),
    pytest.param(
        broken(["bill_statements", 0, "amount_due"], "\uff11\uff12.00"),
        "bill_statements[0].amount_due",
        "expected a number in ASCII digits",
        id="full-width-digits",
    ),
    pytest.param(
        broken(["bill_statements", 0, "amount_due"], "1E+400"),
        "bill_statements[0].amount_due",
        "is out of range",
        id="decimal-too-large",
    ),
    pytest.param(
        broken(["accounts", 0, "account_name"], "Ada \ud800"),
        "accounts[0].account_name",
        "unpaired surrogate",
        id="lone-surrogate",
    ),
    pytest.param(
        broken(["usage_segments", 0, "cds_usagesegment_id"], "us-1~2025-01-01T00:00:00Z"),
        "usage_segments[0].cds_usagesegment_id",
        "no whitespace and no '~'",
        id="id-like-a-trimmed-piece",
    ),
    pytest.param(
        broken(["accounts", 0, "cds_account_id"], "acc 1"),
        "accounts[0].cds_account_id",
        "no whitespace",
        id="id-with-a-space",
    ),
    pytest.param(
        broken(
            ["usage_segments", 0, "formats"],
            [
                {"id": "f", "type": "electric_usage", "units": "kWh"},
                {"id": "c", "type": "cost", "currency": "USD", "indexes": [1]},
            ],
        ),
        "usage_segments[0].formats",
        "names a cost or supply-mix format (or itself)",
        id="cost-pricing-itself",
    ),
    pytest.param(
        broken(
            ["usage_segments", 0, "formats"],
            [
                {"id": "f", "type": "electric_usage", "units": "kWh"},
                {"id": "c", "type": "cost", "currency": "USD", "indexes": [5]},
            ],
        ),
        "usage_segments[0].formats",
        "5 is not the position of a format (0 to 1)",
        id="cost-index-out-of-range",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("doc", "path", "message"), BAD_DOCUMENTS)
def test_a_bad_document_names_the_path_of_its_error_and_writes_nothing(
    doc: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(DocumentError) as error:
        load(doc)
    assert error.value.path == path
    assert message in error.value.message
    assert len(error.value.errors) == 1, error.value.errors
    assert str(error.value) == f"{path}: {error.value.message}"
    assert database_snapshot() == {k: [] for k in database_snapshot()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"accounts": {}}', "accounts: expected a list"),
    ],
)
def test_a_document_that_is_not_a_cds_document_is_rejected(text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse_document(text)


@pytest.mark.django_db
def test_the_command_fails_with_the_path_and_a_nonzero_exit(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(exactjson.dumps(broken(["usage_segments", 0, "values", 1, 0], {"eu": "x"})))
    with pytest.raises(
        CommandError, match=r"usage_segments\[0\]\.values\[1\]\[0\]\.eu: expected a number"
    ):
        call_command("cds_import", str(path), "--no-progress")
    assert not Account.objects.exists()


def test_the_command_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("cds_import", str(tmp_path / "missing.json"))


@pytest.mark.django_db
def test_a_failure_while_writing_rolls_everything_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from cdsapi.importer import loader

    def explode(self: Any, values: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader.Loader, "_segments", explode)
    with pytest.raises(RuntimeError):
        load(minimal_document())
    assert not Account.objects.exists()
    assert not BillStatement.objects.exists()


def test_decimal_numbers_in_the_document_are_never_floats() -> None:
    doc = parse_document('{"bill_statements": []}')
    assert doc.bill_statements == []
    parsed = exactjson.loads('{"amount_due": 0.1}')
    assert parsed["amount_due"] == Decimal("0.1")


@pytest.mark.django_db
def test_a_cost_given_as_a_numeric_string_is_a_number_and_other_text_stays_text() -> None:
    doc = minimal_document()
    doc["bill_sections"][0]["cost_details"] = [
        {"id": "cd-1", "name": "Total", "types": ["overall_total"], "cost": "33.30"},
        {"id": "cd-2", "name": "Note", "types": ["other"], "cost": "included"},
    ]
    load(doc)
    costs = [d["cost"] for d in BillSection.objects.get().cost_details]
    assert costs == [Decimal("33.30"), "included"]
    assert isinstance(costs[0], Decimal)


@pytest.mark.django_db
def test_a_dry_run_checks_and_counts_but_writes_nothing(sample_path: Path, capsys) -> None:
    call_command("cds_import", str(sample_path), "--no-progress", "--dry-run")
    out = capsys.readouterr().out
    assert "account versions: 7 created" in out
    assert "Dry run: nothing was written." in out
    assert not Account.objects.exists()
    call_command("cds_import", str(sample_path), "--no-progress")
    assert "account versions: 7 created" in capsys.readouterr().out
    assert Account.objects.exists()


@pytest.mark.django_db
def test_importing_before_migrate_says_so(sample_path: Path, monkeypatch) -> None:
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda *a, **k: [])
    with pytest.raises(CommandError, match=r"run `manage\.py migrate` first"):
        call_command("cds_import", str(sample_path), "--no-progress")


# -- every error, not just the first ------------------------------------------------------------


def table_counts() -> dict[str, int]:
    """The number of rows of every table of the database."""
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def run_import(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str
) -> tuple[int, str, str]:
    """Run ``cds_import`` as from the command line: (exit status, stdout, stderr)."""
    # The command line closes the connections at the end; the test's transaction needs its own.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    command = load_command_class("cdsapi", "cds_import")
    status = 0
    try:
        command.run_from_argv(["manage.py", "cds_import", *args, "--no-progress", "--skip-checks"])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def with_errors_in_many_objects() -> dict[str, Any]:
    """A document whose schema is right but whose objects disagree, in six places."""
    doc = minimal_document()
    doc["service_contracts"][0]["cds_account_id"] = "acc-404"
    doc["meter_devices"].append(copy.deepcopy(doc["meter_devices"][0]))
    doc["accounts"].append({**doc["accounts"][0], "cds_account_id": "acc-2"})
    doc["bill_sections"][0]["cds_account_id"] = "acc-2"
    doc["usage_segments"][0]["values"] = [[{"eu": "lots"}], [None, None]]
    doc["customers"][0]["accounts"] = ["acc-1", "acc-9"]
    return doc


CONSISTENCY_ERRORS = [
    ("service_contracts[0].cds_account_id", "unknown cds_account_id 'acc-404'"),
    ("meter_devices[1]", "duplicate of meter_devices[0]"),
    (
        "bill_sections[0].cds_account_id",
        "'acc-2' is not the account of its statement 'bst-1' ('acc-1')",
    ),
    ("usage_segments[0].values[0][0].eu", "expected a number, got the string 'lots'"),
    ("usage_segments[0].values[1]", "expected 1 values (one per format), got 2"),
    ("customers[0].accounts", "unknown cds_account_id 'acc-9'"),
]


def test_schema_errors_of_every_object_are_reported_in_document_order() -> None:
    doc = minimal_document()
    doc["accounts"][0]["account_name"] = 7
    del doc["accounts"][0]["cds_created"]
    doc["service_points"][0]["timezone"] = "Mars/Olympus"
    doc["usage_segments"][0]["interval"] = 0
    doc["customers"][0]["username"] = "ada lovelace"
    doc = {"customers": doc.pop("customers"), **doc}  # the document's order, not the schema's
    with pytest.raises(DocumentError) as error:
        parse_document(exactjson.dumps(doc))
    assert error.value.errors == [
        ("customers[0].username", "does not have the expected format"),
        ("accounts[0].account_name", "expected a string, got a number"),
        ("accounts[0].cds_created", "required field is missing"),
        ("service_points[0].timezone", "unknown IANA timezone 'Mars/Olympus'"),
        ("usage_segments[0].interval", "interval must be a positive number of seconds"),
    ]
    assert str(error.value).splitlines() == [
        "5 errors:",
        *(f"  {path}: {message}" for path, message in error.value.errors),
    ]


@pytest.mark.django_db
def test_reference_duplicate_and_consistency_errors_are_all_reported_in_document_order() -> None:
    before = table_counts()
    with pytest.raises(DocumentError) as error:
        load(with_errors_in_many_objects())
    assert error.value.errors == CONSISTENCY_ERRORS
    assert (error.value.path, error.value.message) == CONSISTENCY_ERRORS[0]
    assert table_counts() == before
    assert database_snapshot() == {k: [] for k in database_snapshot()}


@pytest.mark.django_db
def test_an_unknown_id_is_reported_once_where_it_is_written() -> None:
    doc = minimal_document()
    doc["usage_segments"][0]["related_accounts"] = ["acc-9"]  # also its cds_account_id
    doc["customers"][0]["accounts"] = ["acc-9", "acc-9"]
    with pytest.raises(DocumentError) as error:
        load(doc)
    assert error.value.errors == [
        ("usage_segments[0].related_accounts", "unknown cds_account_id 'acc-9'"),
        ("customers[0].accounts", "unknown cds_account_id 'acc-9'"),
    ]


def test_past_the_limit_schema_errors_are_counted() -> None:
    doc = minimal_document()
    doc["accounts"] = [
        {**doc["accounts"][0], "cds_account_id": f"acc-{n}", "account_name": n} for n in range(5)
    ]
    with pytest.raises(DocumentError) as error:
        parse_document(exactjson.dumps(doc), max_errors=2)
    assert [path for path, _ in error.value.errors] == [
        "accounts[0].account_name",
        "accounts[1].account_name",
    ]
    assert error.value.more == 3
    lines = str(error.value).splitlines()
    assert lines[0] == "5 errors:"
    assert lines[-1] == "  ... and 3 more"
    assert len(lines) == 4


@pytest.mark.django_db
def test_past_the_limit_checking_stops_and_says_there_are_more() -> None:
    with pytest.raises(DocumentError) as error:
        load_document(parse_document(exactjson.dumps(with_errors_in_many_objects())), max_errors=3)
    assert error.value.errors == CONSISTENCY_ERRORS[:3]
    assert error.value.stopped
    lines = str(error.value).splitlines()
    assert lines[0] == "more than 3 errors:"
    assert lines[-1] == "  ... and more (checking stopped at the limit of 3)"


def test_the_error_collector_keeps_its_limit_and_raises_when_full() -> None:
    errors = ErrorCollector(limit=2)
    errors.raise_if_any()  # nothing found, nothing raised
    errors.add("a[0]", "first")
    errors.add("a[1]", "second")
    with pytest.raises(DocumentError) as error:
        errors.add("a[2]", "third")
    assert error.value.errors == [("a[0]", "first"), ("a[1]", "second")]
    assert error.value.stopped
    one = DocumentError("a[0].b", "wrong")
    assert (str(one), one.path, one.message, one.errors) == (
        "a[0].b: wrong",
        "a[0].b",
        "wrong",
        [("a[0].b", "wrong")],
    )
    with pytest.raises(ValueError):
        ErrorCollector(limit=0)


@pytest.mark.django_db
def test_a_document_with_errors_writes_nothing_and_the_command_lists_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    doc = minimal_document()
    load(doc)
    before, rows = table_counts(), database_snapshot()
    bad = with_errors_in_many_objects()
    bad["accounts"][0]["account_name"] = "Ada L."  # a change that must not be written
    bad["bill_statements"].append({**doc["bill_statements"][0], "cds_billstatement_id": "bst-2"})
    path = tmp_path / "bad.json"
    path.write_text(exactjson.dumps(bad))
    status, out, err = run_import(monkeypatch, capsys, str(path))
    assert status == 1
    assert err.splitlines() == [
        f"CommandError: {path}: 6 errors:",
        *(f"  {p}: {m}" for p, m in CONSISTENCY_ERRORS),
    ]
    assert out == ""
    assert table_counts() == before
    assert database_snapshot() == rows


@pytest.mark.django_db
def test_the_command_takes_max_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(exactjson.dumps(with_errors_in_many_objects()))
    status, _, err = run_import(monkeypatch, capsys, str(path), "--max-errors", "2")
    assert status == 1
    assert err.splitlines() == [
        f"CommandError: {path}: more than 2 errors:",
        *(f"  {p}: {m}" for p, m in CONSISTENCY_ERRORS[:2]),
        "  ... and more (checking stopped at the limit of 2)",
    ]
    with pytest.raises(CommandError, match="at least 1"):
        call_command("cds_import", str(path), "--max-errors", "0")


@pytest.mark.django_db
def test_a_dry_run_with_errors_exits_nonzero_and_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(exactjson.dumps(with_errors_in_many_objects()))
    before = table_counts()
    status, out, err = run_import(monkeypatch, capsys, str(path), "--dry-run")
    assert status == 1
    assert f"{path}: 6 errors:" in err
    assert all(f"  {p}: {m}" in err for p, m in CONSISTENCY_ERRORS)
    assert "Dry run" not in out
    assert table_counts() == before


@pytest.mark.django_db
def test_a_dry_run_of_a_good_document_prints_the_counts_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "good.json"
    path.write_text(exactjson.dumps(minimal_document()))
    before = table_counts()
    status, out, err = run_import(monkeypatch, capsys, str(path), "--dry-run")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "account versions: 1 created, 0 updated, 0 unchanged",
        *(
            f"{kind}: 1 created, 0 updated, 0 unchanged"
            for kind in (
                "service_contracts",
                "service_points",
                "meter_devices",
                "bill_statements",
                "bill_sections",
                "usage_segments",
                "customers",
            )
        ),
        "Dry run: nothing was written.",
    ]
    assert table_counts() == before


# -- streaming: memory does not grow with the document --------------------------------------


def write_usage_document(path: Path, megabytes: float) -> int:
    """Write, a segment at a time, a valid document of about ``megabytes`` MB: daily segments
    of 96 quarter-hours, listed before the account and meter they name (keys are unordered).
    Returns the number of segments."""
    from datetime import date, timedelta

    day = {
        **META,
        "related_accounts": ["acc-big"],
        "related_meterdevices": ["md-big"],
        "interval": 900,
        "formats": [{"id": "f", "type": "electric_usage", "units": "kWh"}],
        "values": [[{"eu": Decimal(f"0.{n % 90 + 10}0")}] for n in range(96)],
    }
    written = n = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"usage_segments": [')
        while written < megabytes * 1_000_000:
            start = date(2000, 1, 1) + timedelta(days=n)
            segment = {
                "cds_usagesegment_id": f"us-big-{n}",
                **day,
                "segment_start": f"{start}T00:00:00Z",
                "segment_end": f"{start + timedelta(days=1)}T00:00:00Z",
            }
            text = ("," if n else "") + exactjson.dumps(segment)
            out.write(text)
            written += len(text)
            n += 1
        account = {**minimal_document()["accounts"][0], "cds_account_id": "acc-big"}
        meter = {**minimal_document()["meter_devices"][0], "cds_meterdevice_id": "md-big"}
        meter["current_servicepoints"] = []
        out.write(f'], "accounts": [{exactjson.dumps(account)}], ')
        out.write(f'"meter_devices": [{exactjson.dumps(meter)}]}}')
    return n


def run_child(args: list[str], env: dict[str, str], workdir: Path) -> tuple[str, int]:
    """Run ``manage.py args`` in a child process; its output and peak RSS in kilobytes."""
    import os
    import subprocess
    import sys

    manage = Path(__file__).resolve().parent.parent / "manage.py"
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, str(manage), *args], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, err_path.read_text()
    return out_path.read_text(), usage.ru_maxrss


def test_a_streamed_import_takes_the_same_memory_for_a_document_six_times_larger(
    tmp_path: Path,
) -> None:
    """The child's peak RSS stays flat from a 1 MB to a 6 MB document (reading the whole
    document took about 30 times its size). Small sizes keep the test under 30 s; a batch of
    segments is about 0.2 MB of this document, so both sizes write several batches."""
    import os
    import shutil

    migrated = tmp_path / "migrated.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{migrated}", "SECRET_KEY": "x"}
    run_child(["migrate", "-v0"], env, tmp_path)  # once: migrating takes seconds
    peaks = {}
    for megabytes in (1, 6):
        path = tmp_path / f"usage-{megabytes}mb.json"
        segments = write_usage_document(path, megabytes)
        database = tmp_path / f"import-{megabytes}.sqlite3"
        for suffix in ("", "-wal", "-shm"):  # WAL mode: the log too, if it was kept
            if Path(f"{migrated}{suffix}").exists():
                shutil.copyfile(f"{migrated}{suffix}", f"{database}{suffix}")
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "x"}
        out, peaks[megabytes] = run_child(["cds_import", str(path), "--no-progress"], env, tmp_path)
        assert f"usage_segments: {segments} created" in out
    growth_mb = (peaks[6] - peaks[1]) / 1024
    assert growth_mb < 30, f"peak RSS grew by {growth_mb:.0f} MB: {peaks}"


@pytest.mark.django_db
def test_a_streamed_document_from_standard_input_loads_with_its_lists_in_any_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import io
    import sys

    doc = minimal_document()
    shuffled = {k: doc[k] for k in reversed(list(doc))}  # usage first, accounts last
    stdin = io.TextIOWrapper(io.BytesIO(exactjson.dumps(shuffled).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    call_command("cds_import", "-", "--no-progress")
    assert "usage_segments: 1 created" in capsys.readouterr().out
    values = UsageSegment.objects.get().values_json
    assert '{"eu":0.40}' in values  # exact: 0.40 stays 0.40


@pytest.mark.django_db
def test_a_streamed_document_reports_errors_like_a_parsed_one(tmp_path: Path) -> None:
    from cdsapi.importer.loader import read_document

    doc = with_errors_in_many_objects()
    path = tmp_path / "bad.json"
    for order in (list(doc), list(reversed(doc))):
        bad = exactjson.dumps({k: doc[k] for k in order})
        for limit in (3, 50):
            with pytest.raises(DocumentError) as parsed:
                load_document(parse_document(bad), max_errors=limit)
            path.write_text(bad)
            with path.open("rb") as fp, pytest.raises(DocumentError) as streamed:
                load_document(read_document(fp, max_errors=limit), max_errors=limit)
            assert str(streamed.value) == str(parsed.value)
    schema_errors = broken(["accounts", 0, "cds_modified"], "yesterday")
    schema_errors["usage_segments"][0]["interval"] = "often"
    schema_errors["customers"][0]["accounts"] = "acc-1"
    for bad in (schema_errors, broken(["usage_segments", 0, "values", 1, 0], {"eu": "x"})):
        path.write_text(exactjson.dumps(bad))
        with path.open("rb") as fp, pytest.raises(DocumentError) as streamed:
            load_document(read_document(fp))
        with pytest.raises(DocumentError) as parsed:
            load_document(parse_document(exactjson.dumps(bad)))
        assert str(streamed.value) == str(parsed.value)
    assert not Account.objects.exists()
