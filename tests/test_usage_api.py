"""Usage segments: only value sets inside the grant window, trimmed or aggregated exactly."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from tests.factories import BillSectionFactory, BillStatementFactory
from tests.usage_data import KWH, daily_segments, load_usage, local_midnight, segment, utc
from usage.models import UsageSegment, UsageSeries

T0 = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)  # local midnight, June 1 (PDT)
USAGE = "cds_usage"


def usage(**entry):
    return [{"type": USAGE, **entry}]


@pytest.fixture
def one_day(db):
    """96 quarter-hours whose values are 0.001, 0.002, ... 0.096 kWh."""
    values = [[{"eu": Decimal(i + 1).scaleb(-3)}] for i in range(96)]
    load_usage([segment("us-1", T0, values)])


def test_a_segment_inside_the_window_is_served_exactly_as_stored(one_day, api, token_for):
    token = token_for(["acc-u"], usage())
    response = api.get("usage-segments", token)
    assert b'"values":[[{"eu":0.001}],[{"eu":0.002}]' in response.content
    [row] = response.data_["usage_segments"]
    assert row["cds_usagesegment_id"] == "us-1"
    assert (row["segment_start"], row["segment_end"]) == (utc(T0), utc(T0 + timedelta(days=1)))
    assert row["related_accounts"] == ["acc-u"]
    assert row["related_meterdevices"] == ["md-u"]


def test_a_segment_crossing_both_bounds_is_trimmed_with_a_derived_id(one_day, api, token_for):
    token = token_for(
        ["acc-u"],
        usage(
            segment_start=utc(T0 + timedelta(minutes=30)), segment_end=utc(T0 + timedelta(hours=2))
        ),
    )
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["segment_start"] == utc(T0 + timedelta(minutes=30))
    assert row["segment_end"] == utc(T0 + timedelta(hours=2))
    assert [v[0]["eu"] for v in row["values"]] == [Decimal(i).scaleb(-3) for i in range(3, 9)]
    assert row["cds_usagesegment_id"] == ("us-1~2025-06-01T07:30:00Z~2025-06-01T09:00:00Z")
    again = api.rows(
        "usage-segments", token, "usage_segments", cds_usagesegment_ids=row["cds_usagesegment_id"]
    )
    assert again == [row]


def test_a_bound_inside_a_value_set_excludes_that_value_set(one_day, api, token_for):
    token = token_for(
        ["acc-u"],
        usage(
            segment_start=utc(T0 + timedelta(minutes=20)),
            segment_end=utc(T0 + timedelta(minutes=50)),
        ),
    )
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert [v[0]["eu"] for v in row["values"]] == [Decimal("0.003")]
    assert row["interval"] == 900


def test_nothing_outside_the_window_is_served(one_day, api, token_for):
    token = token_for(["acc-u"], usage(segment_start=utc(T0 + timedelta(days=2))))
    assert api.rows("usage-segments", token, "usage_segments") == []


def test_other_accounts_usage_is_not_served(db, api, token_for):
    load_usage(
        [
            *daily_segments(date(2025, 6, 1), 1, account="acc-u", meter="md-u"),
            segment("us-other", T0, [[{"eu": 1}]], account="acc-v", meter="md-v"),
        ],
        accounts=("acc-u", "acc-v"),
        meters=("md-u", "md-v"),
    )
    token = token_for(["acc-u"], usage())
    rows = api.rows("usage-segments", token, "usage_segments")
    assert [r["related_accounts"] for r in rows] == [["acc-u"]]
    assert api.rows("usage-segments", token, "usage_segments", cds_account_ids="acc-v") == []


@pytest.mark.parametrize(
    ("day", "quarter_hours", "seconds"),
    [(date(2025, 3, 9), 92, 82800), (date(2025, 11, 2), 100, 90000), (date(2025, 6, 1), 96, 86400)],
)
def test_daily_aggregates_follow_local_days_across_dst(
    db, api, token_for, day, quarter_hours, seconds
):
    load_usage(daily_segments(day - timedelta(days=1), 3))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    rows = api.rows("usage-segments", token, "usage_segments")
    middle = rows[1]
    assert middle["segment_start"] == utc(local_midnight(day))
    assert middle["interval"] == seconds
    assert middle["values"] == [[{"eu": Decimal(quarter_hours)}]]
    assert (middle["cds_created"], middle["cds_synced"]) == ("2025-01-01T00:00:00Z",) * 2
    assert middle["formats"] == [{**KWH, "id": "kwh:daily_aggregates", "quality": "calculated"}]


@pytest.mark.parametrize(
    ("month", "days", "quarter_hours", "seconds"),
    [(3, 31, 31 * 96 - 4, 31 * 86400 - 3600), (11, 30, 30 * 96 + 4, 30 * 86400 + 3600)],
)
def test_monthly_aggregates_across_dst(db, api, token_for, month, days, quarter_hours, seconds):
    load_usage(daily_segments(date(2025, month, 1), days))
    token = token_for(["acc-u"], usage(aggregation_type="monthly_aggregates"))
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["values"] == [[{"eu": Decimal(quarter_hours)}]]
    assert row["interval"] == seconds


def test_hourly_aggregates_sum_four_quarter_hours(one_day, api, token_for):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    rows = api.rows("usage-segments", token, "usage_segments", limit=2)
    assert [r["values"][0][0]["eu"] for r in rows] == [Decimal("0.010"), Decimal("0.026")]
    assert [r["interval"] for r in rows] == [3600, 3600]


def test_a_window_cutting_a_period_clips_the_aggregate(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 30))
    start = local_midnight(date(2025, 6, 10)) + timedelta(minutes=40)
    token = token_for(
        ["acc-u"], usage(aggregation_type="monthly_aggregates", segment_start=utc(start))
    )
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["segment_start"] == utc(start)
    # June 10 keeps its quarter-hours from 00:45 on (93), then 20 whole days.
    assert row["values"] == [[{"eu": Decimal(93 + 20 * 96)}]]


def test_missing_values_and_days_without_data_are_null(db, api, token_for):
    segments = daily_segments(date(2025, 6, 1), 3)
    segments[0]["values"] = [[None]] * 96
    del segments[1]
    load_usage(segments)
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    rows = api.rows("usage-segments", token, "usage_segments")
    assert [r["values"] for r in rows] == [[[None]], [[None]], [[{"eu": Decimal(96)}]]]


def test_net_metered_sums_per_direction_and_peak_demand(db, api, token_for):
    formats = [
        {"id": "net", "type": "electric_usage", "units": "kWh", "direction": "net"},
        {"id": "fwd", "type": "electric_usage", "units": "kWh", "direction": "forward"},
        {"id": "rev", "type": "electric_usage", "units": "kWh", "direction": "reverse"},
        {"id": "peak", "type": "electric_demand", "units": "kW", "demand_type": "peak"},
        {"id": "avg", "type": "electric_demand", "units": "kW", "demand_type": "average"},
        {
            "id": "read",
            "type": "meter_readings",
            "units": "kWh",
            "register": None,
            "related_meterdevice": "md-u",
        },
        {"id": "cost", "type": "cost", "currency": "USD", "indexes": [0]},
    ]
    values = [
        [
            {"eu": Decimal("0.5")},
            {"eu": Decimal("0.5")},
            {"eu": Decimal("0.0")},
            {"ed": Decimal("2.1")},
            {"ed": Decimal("1")},
            {"r": "100"},
            {"c": Decimal("0.10")},
        ],
        [
            {"eu": Decimal("-0.3")},
            {"eu": Decimal("0.0")},
            {"eu": Decimal("-0.3")},
            {"ed": Decimal("3.4")},
            {"ed": Decimal("1")},
            {"r": "101"},
            {"c": Decimal("-0.06")},
        ],
    ]
    load_usage([segment("us-nem", T0, values, formats)])
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert [f["id"] for f in row["formats"]] == [
        f"{i}:hourly_aggregates" for i in ("net", "fwd", "rev", "peak", "cost")
    ]
    assert row["formats"][4]["indexes"] == [0]
    assert row["values"] == [
        [
            {"eu": Decimal("0.2")},
            {"eu": Decimal("0.5")},
            {"eu": Decimal("-0.3")},
            {"ed": Decimal("3.4")},
            {"c": Decimal("0.04")},
        ]
    ]
    assert row["interval"] == 3600
    assert row["segment_end"] == utc(T0 + timedelta(hours=1))


def test_a_coarser_view_may_be_asked_for_and_a_finer_one_is_refused(one_day, api, token_for):
    token = token_for(["acc-u"], usage(aggregation_type="hourly_aggregates"))
    daily = api.rows("usage-segments", token, "usage_segments", aggregation_type="daily_aggregates")
    assert daily[0]["values"] == [[{"eu": sum(Decimal(i).scaleb(-3) for i in range(1, 97))}]]
    refused = api.get("usage-segments", token, aggregation_type="intervals")
    assert refused.status_code == 403
    assert refused.data_["error"] == "insufficient_scope"
    bad = api.get("usage-segments", token, aggregation_type="weekly")
    assert bad.status_code == 400


def test_account_number_appears_only_when_granted(one_day, api, token_for):
    plain = token_for(["acc-u"], usage())
    assert "account_number" not in api.rows("usage-segments", plain, "usage_segments")[0]
    granted = token_for(
        ["acc-u"],
        [*usage(), {"type": "cds_current_accounts_details", "fields": ["account_number"]}],
    )
    assert api.rows("usage-segments", granted, "usage_segments")[0]["account_number"] == "N-acc-u"
    assert api.get("usage-segments", plain, account_numbers="N-acc-u").status_code == 403


def test_before_and_after_select_overlapping_segments(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 5))
    token = token_for(["acc-u"], usage())
    rows = api.rows(
        "usage-segments",
        token,
        "usage_segments",
        after=utc(local_midnight(date(2025, 6, 2))),
        before=utc(local_midnight(date(2025, 6, 3))),
    )
    assert [r["cds_usagesegment_id"] for r in rows] == [
        "us-2025-06-01",
        "us-2025-06-02",
        "us-2025-06-03",
    ]


def test_two_windows_serve_both_and_nothing_between(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 5))
    token = token_for(
        ["acc-u"],
        [
            {"type": USAGE, "segment_end": utc(local_midnight(date(2025, 6, 2)))},
            {"type": USAGE, "segment_start": utc(local_midnight(date(2025, 6, 4)))},
        ],
    )
    rows = api.rows("usage-segments", token, "usage_segments")
    assert [r["cds_usagesegment_id"] for r in rows] == [
        "us-2025-06-01",
        "us-2025-06-04",
        "us-2025-06-05",
    ]


@pytest.mark.parametrize("aggregation", ["intervals", "daily_aggregates"])
def test_queries_per_request_do_not_grow_with_the_page(db, api, token_for, aggregation):
    load_usage(daily_segments(date(2025, 6, 1), 30))
    token = token_for(
        ["acc-u"], usage(aggregation_type=aggregation, segment_start=utc(T0 + timedelta(hours=5)))
    )

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("usage-segments", token, limit=limit).status_code == 200
        return len(queries)

    assert count(10) == count(100) <= 6


def test_paging_walks_every_aggregate_once(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 7))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    first = api.get("usage-segments", token, limit=4)
    second = api.client.get(first.data_["next"], HTTP_AUTHORIZATION=f"Bearer {token}").json()
    days = [r["segment_start"] for r in first.data_["usage_segments"] + second["usage_segments"]]
    assert days == [utc(local_midnight(date(2025, 6, d))) for d in range(1, 8)]
    assert second["next"] is None


def test_reference_arrays_show_only_the_selected_accounts_objects(db, api, token_for):
    seg = segment("us-shared", T0, [[{"eu": 1}]])
    seg["related_accounts"] = ["acc-u", "acc-v"]
    seg["related_servicecontracts"] = ["sc-acc-u", "sc-acc-v"]
    seg["related_servicepoints"] = ["sp-acc-u", "sp-acc-v"]
    seg["related_meterdevices"] = ["md-u", "md-v"]
    seg["formats"] = [{**KWH, "related_meterdevices": ["md-u", "md-v"]}]
    load_usage([seg], accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    token = token_for(["acc-u"], usage())
    for params in ({}, {"aggregation_type": "hourly_aggregates"}):
        [row] = api.rows("usage-segments", token, "usage_segments", **params)
        assert row["related_accounts"] == ["acc-u"]
        assert row["related_servicecontracts"] == ["sc-acc-u"]
        assert row["related_servicepoints"] == ["sp-acc-u"]
        assert row["related_meterdevices"] == ["md-u"]
        assert row["formats"][0]["related_meterdevices"] == ["md-u"]


def test_days_are_counted_in_the_service_points_timezone(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 2))
    assert UsageSeries.objects.get().timezone == "America/Los_Angeles"
    load_usage(daily_segments(date(2025, 6, 1), 2), timezone="America/New_York")
    assert UsageSeries.objects.get().timezone == "America/New_York"
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    rows = api.rows("usage-segments", token, "usage_segments")
    assert rows[0]["segment_start"] == "2025-06-01T04:00:00Z"  # New York midnight
    assert rows[0]["values"] == [[{"eu": Decimal(96 - 12)}]]  # LA data starts 3 hours later


def test_an_aggregate_can_be_fetched_again_by_its_id(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 3))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    second = api.rows("usage-segments", token, "usage_segments")[1]
    again = api.rows(
        "usage-segments",
        token,
        "usage_segments",
        cds_usagesegment_ids=second["cds_usagesegment_id"],
    )
    assert again == [second]


def test_peak_demand_is_the_maximum_across_segments(db, api, token_for):
    peak = {"id": "peak", "type": "electric_demand", "units": "kW", "demand_type": "peak"}
    load_usage(
        [
            segment(f"us-{n}", T0 + timedelta(hours=n), [[{"ed": Decimal(v)}]] * 4, [peak])
            for n, v in enumerate(["2.5", "7.25", "3"])
        ]
    )
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    [row] = api.rows("usage-segments", token, "usage_segments")
    assert row["values"] == [[{"ed": Decimal("7.25")}]]


def test_hourly_periods_under_a_window_starting_at_odd_seconds(one_day, api, token_for):
    start = T0 + timedelta(hours=2, minutes=14, seconds=59)
    token = token_for(
        ["acc-u"], usage(aggregation_type="hourly_aggregates", segment_start=utc(start))
    )
    rows = api.rows("usage-segments", token, "usage_segments", limit=2)
    assert [r["segment_start"] for r in rows] == [utc(start), utc(T0 + timedelta(hours=3))]
    assert rows[0]["interval"] == 3600 - 14 * 60 - 59
    # The quarter-hours from 02:15 (index 9) to 03:00 local: 0.010 + 0.011 + 0.012
    assert rows[0]["values"] == [[{"eu": Decimal("0.033")}]]


def test_segments_name_only_the_bill_sections_and_meters_the_grant_shows(db, api, token_for):
    mine = segment("us-1", T0, [[{"eu": 1}]], formats=[{**KWH, "related_meterdevice": "md-v"}])
    mine["related_billsections"] = []
    load_usage([mine], accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    accounts = {a.cds_account_id: a for a in Account.objects.all()}
    for ident, account, day in (
        ("bsec-u-old", "acc-u", date(2024, 1, 5)),
        ("bsec-u", "acc-u", date(2025, 6, 5)),
        ("bsec-v", "acc-v", date(2025, 6, 5)),
    ):
        BillSectionFactory(
            cds_billsection_id=ident,
            statement=BillStatementFactory(account=accounts[account], statement_date=day),
        )
    segment_row = UsageSegment.objects.get()
    segment_row.related_json = '{"related_accounts":["acc-u"],"related_billsections":' + (
        '["bsec-u-old","bsec-u","bsec-v"]}'
    )
    segment_row.save()
    both = [*usage(), {"type": "cds_bill_statements", "statement_date_start": "2025-01-01"}]
    token = token_for(["acc-u"], both)
    usage_only = token_for(["acc-u"], usage())
    for aggregation in ("intervals", "hourly_aggregates"):
        [row] = api.rows("usage-segments", token, "usage_segments", aggregation_type=aggregation)
        assert row["related_billsections"] == ["bsec-u"]
        assert "related_meterdevice" not in row["formats"][0]
        [row] = api.rows(
            "usage-segments", usage_only, "usage_segments", aggregation_type=aggregation
        )
        assert row["related_billsections"] == []


def test_a_service_points_new_timezone_reaches_its_aggregates_without_new_usage(db, api, token_for):
    load_usage(daily_segments(date(2025, 6, 1), 2))
    token = token_for(["acc-u"], usage(aggregation_type="daily_aggregates"))
    assert api.rows("usage-segments", token, "usage_segments")[0]["segment_start"] == utc(T0)
    load_usage([], timezone="America/New_York")  # the point changes, no new segments
    assert UsageSeries.objects.get().timezone == "America/New_York"
    rows = api.rows("usage-segments", token, "usage_segments")
    assert rows[0]["segment_start"] == "2025-06-01T04:00:00Z"


@pytest.mark.django_db
def test_a_meter_now_at_another_accounts_point_is_not_named(api, token_for):
    """A meter that was at the account's point before and is now at another account's is
    that account's now: a seed grant's segments never name it, nor match a filter on it."""
    from datetime import UTC, datetime

    from cdsapi import exactjson
    from cdsapi.importer.loader import load_document, parse_document
    from tests.usage_data import META, segment

    def services(account: str, current_points: list[str], previous: list[str]) -> dict:
        return {
            "contract": {
                "cds_servicecontract_id": f"sc-{account}",
                **META,
                "cds_account_id": account,
                "contract_types": ["utility_service"],
                "contract_status": "active",
                "service_types": ["electric"],
            },
            "point": {
                "cds_servicepoint_id": f"sp-{account}",
                **META,
                "servicepoint_types": ["electric"],
                "current_servicecontracts": [f"sc-{account}"],
            },
            "meter": {
                "cds_meterdevice_id": f"md-{account}",
                **META,
                "meter_types": ["ami_meter"],
                "current_servicepoints": current_points,
                "previous_servicepoints": previous,
            },
        }

    mine, theirs = (
        services("acc-1", ["sp-acc-1"], []),
        services("acc-4", ["sp-acc-4"], ["sp-acc-1"]),
    )
    stored = segment(
        "us-mixed",
        datetime(2025, 3, 1, 8, tzinfo=UTC),
        [[{"eu": 1}]] * 4,
        account="acc-1",
        meter="md-acc-1",
    )
    stored["related_meterdevices"] = ["md-acc-1", "md-acc-4"]
    doc = {
        "accounts": [{"cds_account_id": a, **META} for a in ("acc-1", "acc-4")],
        "service_contracts": [s["contract"] for s in (mine, theirs)],
        "service_points": [s["point"] for s in (mine, theirs)],
        "meter_devices": [s["meter"] for s in (mine, theirs)],
        "usage_segments": [stored],
    }
    load_document(parse_document(exactjson.dumps(doc)))
    token = token_for(["acc-1"], [{"type": "cds_usage"}])
    [served] = api.rows("usage-segments", token, "usage_segments")
    assert served["related_meterdevices"] == ["md-acc-1"]
    assert api.rows("usage-segments", token, "usage_segments", cds_meterdevice_ids="md-acc-4") == []


@pytest.mark.django_db
@pytest.mark.parametrize("level", ["intervals", "hourly_aggregates", "monthly_aggregates"])
def test_a_number_filter_the_seed_vocabulary_cannot_answer_is_refused_on_every_view(
    api, token_for, level
):
    from tests.usage_data import daily_segments, load_usage

    load_usage(daily_segments(date(2025, 3, 1), 2))
    token = token_for(["acc-u"], [{"type": "cds_usage", "aggregation_type": level}])
    response = api.get("usage-segments", token, meter_numbers="N-1")
    assert response.status_code == 403
    assert response.data_["error"] == "insufficient_scope"
