"""Usage filters and paging act on what is served, never on stored rows behind it."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from cdsapi import exactjson
from tests.usage_data import daily_segments, load_usage, local_midnight, segment, utc

T0 = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)  # local midnight, June 1 (PDT)
USAGE = "cds_usage"


def usage(**entry):
    return [{"type": USAGE, **entry}]


def walk(api, token, **params):
    """Every page of a listing: the items, and how many items each page held."""
    page = api.get("usage-segments", token, **params)
    assert page.status_code == 200, page.content
    data = page.data_
    items, sizes = list(data["usage_segments"]), [len(data["usage_segments"])]
    while data["next"]:
        response = api.client.get(data["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
        data = exactjson.loads(response.content)
        items += data["usage_segments"]
        sizes.append(len(data["usage_segments"]))
    return items, sizes


def test_after_on_an_aggregated_view_selects_whole_periods(db, api, token_for):
    load_usage(daily_segments(date(2025, 1, 1), 40))
    token = token_for(["acc-u"], usage(aggregation_type="monthly_aggregates"))
    january = api.rows("usage-segments", token, "usage_segments")[0]
    for day in (2, 19, 20, 31):
        after = utc(local_midnight(date(2025, 1, day)) + timedelta(hours=1))
        first = api.rows("usage-segments", token, "usage_segments", after=after)[0]
        assert first == january
    before = api.rows("usage-segments", token, "usage_segments", before="2025-01-01T08:00:00Z")
    assert before == [january]


def test_one_aggregate_id_always_carries_one_value(db, api, token_for):
    load_usage(daily_segments(date(2025, 1, 1), 40))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    every = {
        r["cds_usagesegment_id"]: r for r in api.rows("usage-segments", token, "usage_segments")
    }
    for params in (
        {"after": "2025-01-20T08:00:00Z"},
        {"before": "2025-01-03T00:00:01Z"},
        {"cds_meterdevice_ids": "md-u"},
        {"cds_account_ids": "acc-u"},
    ):
        for row in api.rows("usage-segments", token, "usage_segments", **params):
            assert row == every[row["cds_usagesegment_id"]]


def test_before_and_after_compare_the_trimmed_bounds(one_day_window, api):
    token, end = one_day_window
    assert api.rows("usage-segments", token, "usage_segments", after=utc(end))
    for seconds in (1, 60, 3600):
        later = utc(end + timedelta(seconds=seconds))
        assert api.rows("usage-segments", token, "usage_segments", after=later) == []


def test_before_on_a_piece_compares_its_trimmed_start(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 1))
    start = T0 + timedelta(hours=6)
    token = token_for(["acc-u"], usage(segment_start=utc(start)))
    assert api.rows("usage-segments", token, "usage_segments", before=utc(start))
    earlier = utc(start - timedelta(seconds=1))
    assert api.rows("usage-segments", token, "usage_segments", before=earlier) == []


@pytest.fixture
def one_day_window(db, token_for):
    """A day of data, a grant that ends at 10:00 local: one piece, trimmed at its end."""
    load_usage(daily_segments(date(2025, 6, 1), 1))
    end = T0 + timedelta(hours=10)
    return token_for(["acc-u"], usage(segment_end=utc(end))), end


def test_a_fractional_second_bound_is_kept_and_never_widened(db, api, make_grant):
    from cdsapi.grants import lifecycle

    load_usage(daily_segments(date(2025, 6, 1), 1))
    grant = make_grant(["acc-u"], usage(segment_start="2025-06-01T09:15:00.999Z"))
    assert grant.authorization_details[0]["segment_start"] == "2025-06-01T09:15:00.999Z"
    token, _ = lifecycle.issue_token(grant)
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["segment_start"] == "2025-06-01T09:30:00Z"


def test_sub_microsecond_bounds_round_inwards(make_grant, db):
    load_usage(daily_segments(date(2025, 6, 1), 1))
    grant = make_grant(
        ["acc-u"],
        usage(
            segment_start="2025-06-01T09:15:00.0000001Z",
            segment_end="2025-06-01T10:00:00.9999999Z",
        ),
    )
    entry = grant.authorization_details[0]
    assert entry["segment_start"] == "2025-06-01T09:15:00.000001Z"
    assert entry["segment_end"] == "2025-06-01T10:00:00.999999Z"


@pytest.fixture
def foreign_meter(db):
    """acc-u's usage recorded by md-Z, a meter at another customer's (acc-v's) service."""
    seg = segment("us-z", T0, [[{"eu": Decimal(1)}]] * 96, meter="md-Z")
    seg["cds_account_id"] = "acc-u"
    seg["related_accounts"] = ["acc-u"]
    own = segment("us-u", T0 + timedelta(days=1), [[{"eu": Decimal(2)}]] * 96, meter="md-u")
    load_usage([seg, own], accounts=("acc-u", "acc-v"), meters=("md-u", "md-Z"))


@pytest.mark.parametrize("aggregation", ["intervals", "daily_aggregates"])
def test_a_meter_filter_matches_only_meters_the_response_shows(
    foreign_meter, api, token_for, aggregation
):
    token = token_for(["acc-u"], usage())
    params = {"aggregation_type": aggregation}
    served = api.rows("usage-segments", token, "usage_segments", **params)
    assert len(served) == 2
    assert [r["related_meterdevices"] for r in served] == [[], ["md-u"]]
    hidden = api.rows(
        "usage-segments", token, "usage_segments", cds_meterdevice_ids="md-Z", **params
    )
    unknown = api.rows(
        "usage-segments", token, "usage_segments", cds_meterdevice_ids="md-?", **params
    )
    assert hidden == unknown == []
    [mine] = api.rows(
        "usage-segments", token, "usage_segments", cds_meterdevice_ids="md-u", **params
    )
    assert mine == served[1]


@pytest.mark.parametrize("hidden_meter", ["md-Y", "md-Z"])
def test_aggregate_ids_do_not_depend_on_hidden_meter_ids(db, api, token_for, hidden_meter):
    seg = segment("us-z", T0, [[{"eu": Decimal(1)}]] * 96, meter=hidden_meter)
    seg["cds_account_id"] = "acc-u"
    seg["related_accounts"] = ["acc-u"]
    load_usage([seg], accounts=("acc-u", "acc-v"), meters=("md-u", hidden_meter))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["cds_usagesegment_id"] == "agg-63f09f913bb9a0c79a1ce09a-20250601T070000Z"


def test_an_account_filter_matches_the_served_related_accounts(db, api, token_for):
    seg = segment("us-shared", T0, [[{"eu": 1}]])
    seg["related_accounts"] = ["acc-u", "acc-v"]
    load_usage([seg], accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    both = token_for(["acc-u", "acc-v"], usage())
    mine = token_for(["acc-u"], usage())
    assert api.rows("usage-segments", both, "usage_segments", cds_account_ids="acc-v")
    assert api.rows("usage-segments", mine, "usage_segments", cds_account_ids="acc-v") == []


@pytest.fixture
def two_windows(db):
    """Hourly segments: us-a 07:00-09:00Z, us-b 10:00-14:00Z."""
    load_usage(
        [
            segment("us-a", T0, [[{"eu": Decimal(1)}]] * 2, interval=3600),  # 07:00-09:00Z
            segment("us-b", T0 + timedelta(hours=3), [[{"eu": Decimal(2)}]] * 4, interval=3600),
        ]
    )


def test_a_row_that_serves_nothing_takes_no_page_slot(two_windows, api, token_for):
    # us-a has no whole hour inside the first window; us-b serves a piece in each window.
    token = token_for(
        ["acc-u"],
        [
            {
                "type": USAGE,
                "segment_start": utc(T0 + timedelta(minutes=10)),
                "segment_end": utc(T0 + timedelta(minutes=70)),
            },
            {
                "type": USAGE,
                "segment_start": utc(T0 + timedelta(hours=3)),
                "segment_end": utc(T0 + timedelta(hours=4)),
            },
            {
                "type": USAGE,
                "segment_start": utc(T0 + timedelta(hours=5)),
                "segment_end": utc(T0 + timedelta(hours=9)),
            },
        ],
    )
    items, sizes = walk(api, token, limit=1)
    assert [i["cds_usagesegment_id"].split("~")[0] for i in items] == ["us-b", "us-b"]
    assert sizes == [1, 1]
    assert [i["values"] for i in items] == [[[{"eu": 2}]], [[{"eu": 2}], [{"eu": 2}]]]
    for aggregation in ("hourly_aggregates", "daily_aggregates"):
        rows, sizes = walk(api, token, limit=1, aggregation_type=aggregation)
        assert all(size == 1 for size in sizes)
        assert all(r["values"] != [[None]] for r in rows)
        assert sum(r["values"][0][0]["eu"] for r in rows) == 6


def test_pieces_and_whole_rows_page_in_served_order(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 6))
    token = token_for(
        ["acc-u"],
        [
            {"type": USAGE, "segment_end": utc(T0 + timedelta(days=1, hours=5))},
            {
                "type": USAGE,
                "segment_start": utc(T0 + timedelta(days=2, hours=20)),
                "segment_end": utc(T0 + timedelta(days=4, hours=3)),
            },
        ],
    )
    everything, _ = walk(api, token, limit=100)
    assert [i["segment_start"] for i in everything] == sorted(
        i["segment_start"] for i in everything
    )
    assert len(everything) == 5
    for limit in (1, 2, 3):
        items, sizes = walk(api, token, limit=limit)
        assert items == everything
        assert all(0 < size <= limit for size in sizes)
    for offset in range(7):
        page = api.rows("usage-segments", token, "usage_segments", offset=offset, limit=2)
        assert page == everything[offset : offset + 2]


@pytest.mark.parametrize(
    "made_up", ["us-1~", "us-1~2025-06-01T07:00:00Z~2025-06-01T08:00:00Z", "us-1~x~y", "us-1~~"]
)
def test_a_made_up_trimmed_id_matches_nothing(db, api, token_for, made_up):
    load_usage([segment("us-1", T0, [[{"eu": Decimal(1)}]] * 96)])
    whole = token_for(["acc-u"], usage())
    cut = token_for(["acc-u"], usage(segment_start=utc(T0 + timedelta(hours=2))))
    assert api.rows("usage-segments", whole, "usage_segments", cds_usagesegment_ids=made_up) == []
    assert api.rows("usage-segments", cut, "usage_segments", cds_usagesegment_ids=made_up) == []
    assert api.rows("usage-segments", cut, "usage_segments", cds_usagesegment_ids="us-1") == []
    [piece] = api.rows("usage-segments", cut, "usage_segments")
    again = api.rows(
        "usage-segments", cut, "usage_segments", cds_usagesegment_ids=piece["cds_usagesegment_id"]
    )
    assert again == [piece]


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
@pytest.mark.parametrize("interval", [3600, 86400])
def test_value_sets_off_the_local_grid_count_in_the_period_they_start_in(
    db, api, token_for, zone, interval
):
    first = datetime(2025, 1, 1, tzinfo=UTC)
    count = 86400 // interval
    segments = [
        segment(
            f"us-{day}",
            first + timedelta(days=day),
            [[{"eu": Decimal(day * 100 + i + 1)}] for i in range(count)],
            interval=interval,
        )
        for day in range(62)
    ]
    load_usage(segments, timezone=zone)
    token = token_for(["acc-u"], usage())
    total = sum(v[0]["eu"] for s in segments for v in s["values"])
    for aggregation in ("intervals", "hourly_aggregates", "daily_aggregates", "monthly_aggregates"):
        if aggregation == "hourly_aggregates" and interval == 86400:
            continue
        rows, _ = walk(api, token, aggregation_type=aggregation)
        served = [r["values"][i][0] for r in rows for i in range(len(r["values"]))]
        assert sum(v["eu"] for v in served if v) == total, aggregation
        if aggregation == "hourly_aggregates":
            assert all(v is not None for v in served)


def test_hidden_meters_are_one_series_in_the_utilitys_timezone(db, api, token_for):
    """Hidden meters at service points in other zones: their days are not the client's clue."""
    segments = []
    for n, meter in enumerate(("md-x", "md-y")):
        seg = segment(
            f"us-{meter}", T0, [[{"eu": Decimal(n + 1)}]] * 24, interval=3600, meter=meter
        )
        seg["cds_account_id"] = "acc-u"
        seg["related_accounts"] = ["acc-u"]
        segments.append(seg)
    load_usage(segments[:1], accounts=("acc-u", "acc-x"), meters=("md-u", "md-x"), timezone="UTC")
    load_usage(segments[1:], accounts=("acc-y",), meters=("md-y",), timezone="Pacific/Chatham")
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    rows = api.rows("usage-segments", token, "usage_segments")
    assert [r["segment_start"] for r in rows] == [utc(T0)]  # Los Angeles midnight
    assert rows[0]["values"] == [[{"eu": Decimal(24 * 3)}]]
    assert rows[0]["related_meterdevices"] == []


@pytest.fixture
def far_dated(db):
    """Two days of hourly data, and one segment mistakenly dated six centuries later."""
    segments = [
        segment(f"us-{n}", T0 + timedelta(days=n), [[{"eu": Decimal(1)}]] * 24, interval=3600)
        for n in range(2)
    ]
    segments.append(
        segment("us-2626", T0.replace(year=2626), [[{"eu": Decimal(5)}]] * 24, interval=3600)
    )
    load_usage(segments)


@pytest.fixture
def periods_built(monkeypatch):
    """Counts the calendar periods built (each one asks for the start of the next)."""
    from usage.aggregation import Calendar

    built = []
    real = Calendar.next

    def counting(self, start):
        built.append(start)
        return real(self, start)

    monkeypatch.setattr(Calendar, "next", counting)
    return built


def test_a_page_of_aggregates_builds_only_its_own_periods(far_dated, api, token_for, periods_built):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    first = api.get("usage-segments", token, limit=1)
    assert len(first.data_["usage_segments"]) == 1
    assert len(periods_built) <= 3
    walked = [first.data_["usage_segments"][0]]
    url = first.data_["next"]
    for _ in range(60):  # past the 48 hours of data, into the gap, each page as cheap
        periods_built.clear()
        page = exactjson.loads(api.client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").content)
        assert len(periods_built) <= 6  # this page, and one back for its previous link
        walked += page["usage_segments"]
        url = page["next"]
    assert [r["values"][0][0]["eu"] for r in walked[:48]] == [1] * 48
    assert walked[48]["values"] == [[None]]
    by_offset = api.rows("usage-segments", token, "usage_segments", offset=55, limit=3)
    assert by_offset == walked[55:58]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "2626-06-01T10:00:00Z"},
        {"before": "2025-06-01T09:00:00Z"},
        {"after": "2600-01-01T00:00:00Z", "before": "2700-01-01T00:00:00Z", "limit": 2},
    ],
)
def test_filters_on_time_build_only_the_periods_they_reach(
    far_dated, api, token_for, periods_built, params
):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    rows = api.rows(
        "usage-segments", token, "usage_segments", limit=params.pop("limit", 3), **params
    )
    assert rows
    assert len(periods_built) <= 6


def test_an_aggregate_id_is_found_without_walking_the_series(
    far_dated, api, token_for, periods_built
):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    last = api.rows("usage-segments", token, "usage_segments", after="2626-06-02T06:00:00Z")[-1]
    periods_built.clear()
    again = api.rows(
        "usage-segments", token, "usage_segments", cds_usagesegment_ids=last["cds_usagesegment_id"]
    )
    assert again == [last]
    assert len(periods_built) <= 2


@pytest.mark.parametrize(
    "cursor", ["x", "e30", "W10", "WyJhIiwgIm5vdCBhIGRhdGUiLCAxXQ", "a" * 2000]
)
def test_a_cursor_the_server_did_not_give_out_is_refused(far_dated, api, token_for, cursor):
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    response = api.get("usage-segments", token, cursor=cursor)
    assert response.status_code == 400
    assert response.data_["error_description"].startswith("cursor:")
    intervals = token_for(["acc-u"], usage())
    assert api.get("usage-segments", intervals, cursor=cursor).status_code == 400


def test_an_aggregated_view_refuses_offsets_it_would_have_to_walk_to(far_dated, api, token_for):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    response = api.get("usage-segments", token, offset=10**12)
    assert response.status_code == 400
    assert "cursor" in response.data_["error_description"]


def test_previous_links_work_past_the_offset_limit(far_dated, api, token_for):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    pages = [api.get("usage-segments", token, offset=99_999, limit=2).data_]
    for _ in range(3):
        pages.append(exactjson.loads(api.client.get(pages[-1]["next"], **auth).content))
    assert "offset=100007" in pages[-1]["next"]
    for earlier, later in pairwise(pages):
        back = api.client.get(later["previous"], **auth)
        assert back.status_code == 200, back.content
        assert exactjson.loads(back.content)["usage_segments"] == earlier["usage_segments"]


def test_series_are_told_apart_only_by_the_meters_they_name(db, api, token_for):
    """A segment recorded by another customer's meter but naming the account's own meter
    joins that meter's series: the hidden recording meter leaves no trace."""
    own = segment("us-own", T0, [[{"eu": Decimal(1)}]] * 4, interval=3600, meter="md-u")
    foreign = segment(
        "us-foreign",
        T0 + timedelta(hours=4),
        [[{"eu": Decimal(2)}]] * 4,
        interval=3600,
        meter="md-v",
    )
    foreign["cds_account_id"] = "acc-u"
    foreign["related_accounts"] = ["acc-u"]
    foreign["related_meterdevices"] = ["md-u", "md-v"]
    load_usage([own, foreign], accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["values"] == [[{"eu": Decimal(12)}]]
    assert row["related_meterdevices"] == ["md-u"]


def test_a_cursor_is_accepted_only_as_the_server_gave_it(far_dated, api, token_for):
    from urllib.parse import parse_qs, urlsplit

    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    first = api.get("usage-segments", token, limit=2).data_
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    assert api.get("usage-segments", token, limit=2, cursor=cursor).status_code == 200
    payload, _, signature = cursor.rpartition(":")
    edited = f"{payload}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    response = api.get("usage-segments", token, limit=2, cursor=edited)
    assert response.status_code == 400


def test_an_aggregate_id_of_a_period_before_the_year_1000_names_its_start() -> None:
    from datetime import UTC, datetime

    from usage.serving import _compact, _start_of

    start = datetime(999, 12, 1, 7, 52, 58, tzinfo=UTC)
    assert _compact(start) == "09991201T075258Z"
    assert _start_of(f"agg-{'0' * 24}-{_compact(start)}") == start
