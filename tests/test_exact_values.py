"""Decimals keep every digit they were given, in the database and in JSON."""

from decimal import Decimal

import pytest

from bills.models import BillStatement
from cdsapi import exactjson
from tests.factories import BillStatementFactory, ServicePointFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0.40", "0.40"),
        ("145.47", "145.47"),
        ("-12.5", "-12.5"),
        ("123456789012345678.123456789", "123456789012345678.123456789"),
        ("7", "7"),
        ("1E-7", "1E-7"),
        # Forms PostgreSQL's numeric cannot keep are stored canonically on every database.
        ("-0.000", "0.000"),
        ("1E+3", "1000"),
    ],
)
def test_exact_decimal_field_returns_the_digits_it_stored(given: str, stored: str) -> None:
    statement = BillStatementFactory(amount_due=Decimal(given))
    assert str(BillStatement.objects.get(pk=statement.pk).amount_due) == stored


@pytest.mark.django_db
def test_exact_json_field_keeps_nested_decimals_exact() -> None:
    charges = [
        {
            "id": "nc",
            "name": "n",
            "types": ["tax"],
            "amount": Decimal("3.10"),
            "included_in_amount_due": True,
        }
    ]
    statement = BillStatementFactory(new_charges=charges)
    stored = BillStatement.objects.get(pk=statement.pk).new_charges
    assert stored[0]["amount"] == Decimal("3.10")
    assert str(stored[0]["amount"]) == "3.10"


@pytest.mark.django_db
def test_null_decimal_stays_null() -> None:
    point = ServicePointFactory(latitude=None)
    point.refresh_from_db()
    assert point.latitude is None


def test_exactjson_writes_decimals_as_number_literals() -> None:
    assert exactjson.dumps({"eu": Decimal("0.40")}) == '{"eu":0.40}'
    assert exactjson.loads('{"eu":0.40,"n":3}') == {"eu": Decimal("0.40"), "n": 3}
    assert str(exactjson.loads("[0.10000000000000000001]")[0]) == "0.10000000000000000001"
