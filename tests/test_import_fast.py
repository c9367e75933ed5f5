"""The fast reading of a document file (``find_layout``, ``read_fast``, ``plain_values``) is
an optimisation only: whatever it reads, it loads exactly what the general reading loads,
and whatever it finds wrong, the general reading reports."""

import io
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdsapi import enums, exactjson
from cdsapi.importer import stream
from cdsapi.importer.errors import DocumentError, ErrorCollector
from cdsapi.importer.layout import find_layout
from cdsapi.importer.loader import load_document, parse_document, read_document
from cdsapi.importer.values import check_values, plain_json, plain_values
from tests.test_import import BAD_DOCUMENTS, database_snapshot, minimal_document
from usage.aggregation import column_totals, totals


def layout_of(text: bytes) -> list[tuple[str, Any]] | None:
    entries = find_layout(io.BytesIO(text))
    if entries is None:
        return None
    return [(e.key, text[e.region.start : e.region.end] if e.region else e.value) for e in entries]


def test_the_layout_finds_each_top_level_list_with_strings_holding_brackets_and_quotes() -> None:
    text = b' {"a": [{"x": "[\\"{"}, {"y": "\\\\"}] ,\n"b":{"c":[1]}, "n": null, "s": "]"}\n'
    assert layout_of(text) == [
        ("a", b'[{"x": "[\\"{"}, {"y": "\\\\"}]'),
        ("b", b'{"c":[1]}'),
        ("n", None),
        ("s", "]"),
    ]
    assert find_layout(io.BytesIO(text))[0].region.items == 2


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"[1]",
        b'{"a": [}',
        b'{"a": []} x',
        b'\xef\xbb\xbf{"a": []}',
        b'{"a": [], "a": []}',
        b'{"a": 1.5}',
        b'{"a": ["unterminated]}',
        b'\x0c{"a": []}',
    ],
    ids=[
        "empty",
        "not-an-object",
        "unbalanced",
        "trailing-text",
        "byte-order-mark",
        "key-twice",
        "number-at-top",
        "open-string",
        "form-feed",
    ],
)
def test_anything_unusual_is_left_to_the_general_reading(text: bytes) -> None:
    assert find_layout(io.BytesIO(text)) is None


def test_a_backslash_run_across_chunks_escapes_what_follows(monkeypatch) -> None:
    monkeypatch.setattr("cdsapi.importer.layout.CHUNK", 7)
    text = b'{"a": ["\\\\\\\\\\"]", "]"], "b": []}'
    assert layout_of(text) == [("a", b'["\\\\\\\\\\"]", "]"]'), ("b", b"[]")]


# -- values ----------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["0.40", "-0.000", "-0", "1E+3", "1e-7", "12.3456", "-5.5", "0.0"]).map(
        Decimal
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
    st.just(True),
    st.just("7"),
)
TYPES = ["electric_usage", "cost", "electric_demand", "natural_gas_usage", "meter_readings"]


@st.composite
def segments(draw: Any) -> tuple[list[str], Any]:
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3))
    keys = [enums.VALUE_KEYS[t] for t in types]
    entry = st.one_of(
        st.none(),
        st.builds(lambda key, n: {key: n}, st.sampled_from(keys), NUMBERS),
        st.sampled_from([{}, 0, "x", [], {"eu": 1, "c": 2}]),
    )
    width = st.sampled_from([len(keys), len(keys), len(keys) + 1])
    values = draw(st.lists(width.flatmap(lambda w: st.lists(entry, min_size=w, max_size=w))))
    return types, values


@settings(max_examples=400, deadline=None)
@given(segments())
def test_the_fast_value_check_agrees_with_the_general_one(segment: Any) -> None:
    types, values = segment
    keys = [enums.VALUE_KEYS[t] for t in types]
    formats = [{"type": t, "demand_type": "peak"} for t in types]
    errors = ErrorCollector(100)
    checked = check_values(values, types, "values", errors)
    compact = exactjson.dumps(values).encode()
    spaced = exactjson.dumps(values, indent=1, separators=(" , ", " : ")).encode()
    for plain in (
        plain_values(values, keys),
        plain_json(compact, keys),
        plain_json(spaced, keys),
    ):
        if plain is None:
            continue
        assert not errors, "the fast check passed what the general one refuses"
        assert plain.text == exactjson.dumps(checked)
        assert plain.count == len(values)
        assert exactjson.dumps(column_totals(plain.columns, formats)) == exactjson.dumps(
            totals(checked, formats)
        )


def test_plain_values_take_the_common_shapes() -> None:
    values = [[{"eu": Decimal("0.40")}, None], [None, {"c": 3}], [{"eu": Decimal("-1.5")}, None]]
    text = '[[{"eu":0.40},null],[null,{"c":3}],[{"eu":-1.5},null]]'
    columns = [[Decimal("0.40"), Decimal("-1.5")], [Decimal(3)]]
    assert plain_values(values, ["eu", "c"]) == (text, columns, 3)
    assert plain_json(exactjson.dumps(values, indent=2).encode(), ["eu", "c"]) == (
        text,
        columns,
        3,
    )
    assert plain_values([], ["eu"]) == ("[]", [[]], 0)
    assert plain_json(b"[ ]", ["eu"]) == ("[]", [[]], 0)
    for odd in (
        b'[[{"eu":-0.0}]]',
        b'[[{"eu":1e3}]]',
        b'[[{"eu":0.0000001}]]',
        b'[[{"e u":1}]]',
        b'[[{"e\\u0075":1}]]',
        b'[[{"eu":1," eu":2}]]',
    ):
        assert plain_json(odd, ["eu"]) is None


# -- whole documents -------------------------------------------------------------------------


def streamed(doc: dict[str, Any]) -> Any:
    return read_document(io.BytesIO(exactjson.dumps(doc).encode()))


@pytest.mark.django_db
def test_a_document_read_fast_loads_what_the_general_reading_loads() -> None:
    doc = minimal_document()
    doc["usage_segments"].append(
        {
            **doc["usage_segments"][0],
            "cds_usagesegment_id": "us-2",
            "formats": [
                {"id": "r", "type": "meter_readings", "units": "kWh", "related_meterdevice": "md-1"}
            ],
            "values": [[{"r": "100.5"}], [{"r": "101"}]],
        }
    )
    fast = streamed(doc)
    assert fast.regions is not None, "the fast reading was not taken"
    fast_result = load_document(fast)
    fast_rows = database_snapshot()
    assert load_document(streamed(doc)).changed is False
    for model in ("usage.UsageSegment", "usage.UsageSeries"):
        assert fast_rows[model]
    # The same document, parsed whole, finds everything already there.
    assert load_document(parse_document(exactjson.dumps(doc))).changed is False
    assert fast_result.counts["usage_segments"].created == 2


def error_list(load: Any) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as error:
        load()
    return error.value.errors


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("doc", "path", "message"), [p for p in BAD_DOCUMENTS if p.id != "lone-surrogate"]
)
def test_a_bad_document_read_fast_is_reported_as_the_general_reading_reports_it(
    doc: dict[str, Any], path: str, message: str
) -> None:
    text = exactjson.dumps(doc)
    expected = error_list(lambda: load_document(parse_document(text)))
    assert error_list(lambda: load_document(read_document(io.BytesIO(text.encode())))) == expected
    assert database_snapshot() == {k: [] for k in database_snapshot()}


@pytest.mark.django_db
def test_a_duplicate_or_dangling_segment_read_fast_is_reported_in_document_order() -> None:
    doc = minimal_document()
    doc["usage_segments"].append(dict(doc["usage_segments"][0]))
    doc["usage_segments"].append({**doc["usage_segments"][0], "cds_usagesegment_id": "us-3"})
    doc["usage_segments"][2]["related_meterdevices"] = ["md-404"]
    assert error_list(lambda: load_document(streamed(doc))) == [
        ("usage_segments[1]", "duplicate of usage_segments[0]"),
        ("usage_segments[2].related_meterdevices", "unknown cds_meterdevice_id 'md-404'"),
    ]
    assert database_snapshot() == {k: [] for k in database_snapshot()}


# -- what yajl would get wrong -----------------------------------------------------------------

TEXT_ERRORS = [
    (
        b'{"a": "x\\ud800y"}',
        "the escape \\ud800 is half of a UTF-16 surrogate pair without "
        "its other half, line 1 column 9: it cannot be stored",
    ),
    (
        b'{"a":\n  "\\\\\\udc00"}',
        "the escape \\udc00 is half of a UTF-16 surrogate pair "
        "without its other half, line 2 column 6: it cannot be stored",
    ),
    (b'{"a": "caf\xe9"}', "not valid UTF-8 (byte 0xe9, line 1 column 11)"),
    (b'{"a": "\xc3', "not valid UTF-8 (byte 0xc3, line 1 column 8)"),
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 4 << 20])
@pytest.mark.parametrize(("text", "message"), TEXT_ERRORS)
def test_bytes_yajl_would_mangle_are_refused_with_line_and_column(
    monkeypatch, chunk: int, text: bytes, message: str
) -> None:
    monkeypatch.setattr(stream, "CHECK_CHUNK", chunk)
    with pytest.raises(DocumentError) as error:
        read_document(io.BytesIO(text))
    assert error.value.errors == [("$", message)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 4 << 20])
def test_surrogate_pairs_and_escaped_backslashes_are_text(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(stream, "CHECK_CHUNK", chunk)
    stream.check_text(io.BytesIO(b'{"a": "\\ud83d\\ude00 \\\\ud800 caf\xc3\xa9"}'))


@pytest.mark.django_db
def test_equal_numerics_written_differently_are_an_update_and_the_same_text_is_not() -> None:
    from bills.models import BillStatement
    from usage.models import UsageSegment

    doc = minimal_document()
    assert load_document(streamed(doc)).counts["bill_statements"].created == 1
    again = load_document(streamed(doc))
    assert not again.changed and again.counts["usage_segments"].unchanged == 1
    doc["bill_statements"][0]["amount_due"] = Decimal("12.3")  # was 12.30
    doc["usage_segments"][0]["values"][0][0]["eu"] = Decimal("0.4")  # was 0.40
    doc["usage_segments"][0]["interval"] = Decimal("900.0")  # was 900
    result = load_document(streamed(doc))
    assert result.counts["bill_statements"].updated == 1
    assert result.counts["usage_segments"].updated == 1
    assert str(BillStatement.objects.get().amount_due) == "12.3"
    segment = UsageSegment.objects.get()
    assert segment.values_json == '[[{"eu":0.4}],[null]]'
    assert str(segment.interval) == "900.0"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "usage",
    [
        "[5]",
        "[SEGMENT, 5]",
        "[5, SEGMENT]",
        "[SEGMENT, 5, SEGMENT2]",
        '[SEGMENT, "x"]',
        "[SEGMENT, null]",
        "[SEGMENT, [SEGMENT2]]",
        "[SEGMENT_SPACED_KEY]",
    ],
)
def test_anything_but_objects_among_the_segments_is_reported_as_the_general_reading_does(
    monkeypatch, usage: str
) -> None:
    monkeypatch.setattr(stream, "SHELL_BYTES", 1)  # a group per segment: every gap is read
    doc = minimal_document()
    segment = doc.pop("usage_segments")[0]
    second = {**segment, "cds_usagesegment_id": "us-2"}
    text = exactjson.dumps(doc)[:-1] + ', "usage_segments": ' + usage + "}"
    spaced = exactjson.dumps(segment).replace('{"eu":', '{"e u":')
    text = text.replace("SEGMENT_SPACED_KEY", spaced).replace("SEGMENT2", exactjson.dumps(second))
    text = text.replace("SEGMENT", exactjson.dumps(segment))
    expected = error_list(lambda: load_document(parse_document(text)))
    assert error_list(lambda: load_document(read_document(io.BytesIO(text.encode())))) == expected
    assert database_snapshot() == {k: [] for k in database_snapshot()}


# -- what an attacker's documents found -------------------------------------------------------


def test_nesting_deeper_than_any_cds_document_is_refused_at_once() -> None:
    text = b'{"accounts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(DocumentError) as error:
        read_document(io.BytesIO(text))
    assert error.value.errors == [("$", "nested deeper than 32 levels, line 1 column 45")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1E+101", "is out of range"),
        ("1E-999999999", "is out of range"),
        ("1E+999999999", "is out of range"),
    ],
)
def test_a_usage_value_given_as_a_json_number_has_the_range_of_any_number(
    number: str, message: str
) -> None:
    text = exactjson.dumps(minimal_document()).replace('{"eu":0.40}', '{"eu":' + number + "}")
    for load in (
        lambda: load_document(parse_document(text)),
        lambda: load_document(read_document(io.BytesIO(text.encode()))),
    ):
        [(path, said)] = error_list(load)
        assert path == "usage_segments[0].values[0][0].eu" and message in said


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "stored"), [("1E+3", "1000"), ("-0.0", "0.0"), ("1.0E2", "100")]
)
def test_a_usage_value_given_as_a_json_number_is_stored_as_the_same_string_would_be(
    number: str, stored: str
) -> None:
    from usage.models import UsageSegment

    text = exactjson.dumps(minimal_document()).replace('{"eu":0.40}', '{"eu":' + number + "}")
    load_document(read_document(io.BytesIO(text.encode())))
    assert UsageSegment.objects.get().values_json == '[[{"eu":' + stored + "}],[null]]"
    as_string = text.replace('{"eu":' + number + "}", '{"eu":"' + number + '"}')
    assert not load_document(read_document(io.BytesIO(as_string.encode()))).changed


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["1_000", "+0.40", ".4", " 0.40", "01", "1.", "0x10"])
def test_a_numeric_string_is_written_as_a_json_number_is(text: str) -> None:
    doc = minimal_document()
    doc["bill_statements"][0]["amount_due"] = text
    [(path, said)] = error_list(lambda: load_document(parse_document(exactjson.dumps(doc))))
    assert path == "bill_statements[0].amount_due" and "expected a number" in said


@pytest.mark.django_db
def test_a_customer_may_not_be_a_staff_user() -> None:
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_user("ada", "ops@utility.example", is_staff=True)
    for load in (
        lambda: load_document(parse_document(exactjson.dumps(minimal_document()))),
        lambda: load_document(streamed(minimal_document())),
    ):
        [(path, said)] = error_list(load)
        assert path == "customers[0].username" and "'ada' is a staff user" in said
    admin.refresh_from_db()
    assert admin.email == "ops@utility.example" and not admin.cds_accounts.exists()


def test_totals_and_aggregates_keep_every_digit() -> None:
    from usage.aggregation import Accumulator

    big, small = Decimal("12345678901234567890.123456789"), Decimal("0.000000003")
    exact = Decimal("12345678901234567890.123456792")
    [[total, count]] = column_totals([[big, small]], [{"type": "electric_usage"}])
    assert (total, count) == (exact, 2) and str(total) == str(exact)
    accumulator = Accumulator(["sum"])
    for value in (big, small, Decimal("1E+99")):
        accumulator.add(0, value)
    [served] = accumulator.values
    assert str(served) == "1" + "0" * 79 + "12345678901234567890.123456792"


# -- what the second round of attacks found ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("where", ['"x": NUMBER', '"bill_statements": [{"amount_due": NUMBER}]'])
def test_a_run_of_thousands_of_digits_is_refused_with_its_place(where: str) -> None:
    text = '{"accounts": [], ' + where.replace("NUMBER", "9" * 5000) + "}"
    [(path, said)] = error_list(lambda: read_document(io.BytesIO(text.encode())))
    assert path == "$" and said.startswith("more than 1000 digits in a row, line 1 column")


@pytest.mark.django_db
def test_a_value_with_a_large_positive_exponent_is_stored_with_all_its_digits() -> None:
    from usage.models import UsageSegment

    text = exactjson.dumps(minimal_document()).replace('{"eu":0.40}', '{"eu":1.5E+40}')
    load_document(read_document(io.BytesIO(text.encode())))
    assert UsageSegment.objects.get().values_json == '[[{"eu":15' + "0" * 39 + "}],[null]]"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("interval", "values", "end", "path", "message"),
    [
        (10**14, 1, "8000-01-01T00:00:00Z", "interval", "at most 2147483647 seconds"),
        (Decimal("1E-7"), 1, "1950-01-01T00:00:00Z", "interval", "whole number of microseconds"),
        (2 * 10**9, 2, "2076-10-02T07:06:40Z", "segment_end", "at most 2147483647 seconds"),
    ],
)
def test_intervals_and_spans_the_server_cannot_compute_with_are_refused(
    interval: Any, values: int, end: str, path: str, message: str
) -> None:
    doc = minimal_document()
    doc["usage_segments"][0].update(
        interval=interval,
        segment_start="1950-01-01T00:00:00Z",
        segment_end=end,
        values=[[None]] * values,
    )
    parsed = error_list(lambda: load_document(parse_document(exactjson.dumps(doc))))
    assert parsed == error_list(lambda: load_document(streamed(doc)))
    assert any(p == f"usage_segments[0].{path}" and message in m for p, m in parsed), parsed


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000, 4 << 20])
def test_digits_in_a_row_are_counted_across_chunks(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(stream, "CHECK_CHUNK", chunk)
    for text, refused in (
        (b'{"a": ' + b"9" * 1001 + b"}", True),
        (b'{"a": ' + b"9" * 1000 + b"}", False),
        (b'{"a": "x' + b"9" * 999 + b'y", "b": ' + b"9" * 999 + b"}", False),
    ):
        if refused:
            with pytest.raises(DocumentError, match="line 1 column 7"):
                stream.check_text(io.BytesIO(text))
        else:
            stream.check_text(io.BytesIO(text))
