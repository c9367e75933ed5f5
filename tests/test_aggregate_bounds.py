"""A page of aggregates read from the rows near it (``usage.serving._Bounds``) is exactly the
page the whole window gives: same items, same links, walked forward and back, over gaps,
several accounts and series, and the spring-forward day; and a first page reads only the
rows near it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cdsapi import exactjson
from cdsapi.grants import lifecycle
from tests.conftest import Api
from tests.factories import ApplicationFactory
from tests.usage_data import KWH, daily_segments, load_usage, segment, utc
from usage import serving

START = datetime(2025, 3, 7, 8, 0, tzinfo=UTC)  # the spring-forward weekend in Los Angeles
LEVELS = ["hourly_aggregates", "daily_aggregates", "monthly_aggregates"]
WH = {**KWH, "id": "wh", "units": "Wh"}

# A run of back-to-back segments of hourly values starting somewhere in the span (a share of
# it: 0 to 1), on one of two accounts, in one of two value formats (two series of one
# account). Hourly aggregates walk 60 hours, the others 12 days.
run_st = st.tuples(
    st.sampled_from(["acc-u", "acc-v"]),
    st.floats(0, 1),
    st.integers(1, 3),
    st.integers(1, 24),
    st.booleans(),
)
SPAN_HOURS = {"hourly_aggregates": 60, "daily_aggregates": 12 * 24, "monthly_aggregates": 12 * 24}


def walk(api: Api, token: str, params: dict) -> list[dict]:
    pages = [api.get("usage-segments", token, **params).data_]
    while pages[-1]["next"]:
        response = api.client.get(pages[-1]["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
        pages.append(exactjson.loads(response.content))
    return pages


def previous(api: Api, token: str, pages: list[dict]) -> list[list[dict]]:
    found = []
    for page in pages[1:]:
        response = api.client.get(page["previous"], HTTP_AUTHORIZATION=f"Bearer {token}")
        found.append(exactjson.loads(response.content)["usage_segments"])
    return found


class BoundedPagesAreWholePages(TestCase):
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    # A series with a gap across the whole page (its periods there are null), in a format of
    # its own beside a series with data there; and an account left within the offset.
    @example(
        runs=[
            ("acc-u", 0.0, 1, 1, True),
            ("acc-u", 0.0, 2, 21, False),
            ("acc-u", 0.81, 1, 1, True),
        ],
        level="hourly_aggregates",
        limit=3,
        offset=1,
        window=0.0,
    )
    @example(
        runs=[
            ("acc-u", 0.835, 1, 5, False),
            ("acc-v", 0.098, 2, 7, False),
            ("acc-u", 0.0, 1, 1, False),
            ("acc-u", 1.0, 1, 1, False),
            ("acc-v", 0.467, 2, 17, False),
        ],
        level="daily_aggregates",
        limit=3,
        offset=4,
        window=0.146,
    )
    @given(
        runs=st.lists(run_st, min_size=1, max_size=6),
        level=st.sampled_from(LEVELS),
        limit=st.integers(3, 6),
        offset=st.integers(0, 6),
        window=st.one_of(st.none(), st.floats(0, 0.5)),
    )
    def test_the_same_pages_as_the_whole_window(self, runs, level, limit, offset, window):
        span = SPAN_HOURS[level]
        segments = []
        for n, (account, share, segs, length, other_format) in enumerate(runs):
            hour = int(share * span)
            for k in range(segs):
                start = START + timedelta(hours=hour + k * length)
                rows = [[{"eu": Decimal(n + 1)}]] * length
                formats = [WH] if other_format else None
                meter = "md-u" if account == "acc-u" else "md-v"
                ident = f"us-{n}-{k}"
                segments.append(
                    segment(ident, start, rows, formats, 3600, account=account, meter=meter)
                )
        load_usage(segments, accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
        entry = {"type": "cds_usage", "aggregation_type": level}
        if window is not None:
            entry["segment_start"] = utc(START + timedelta(hours=int(window * span)))
        grant = lifecycle.create_grant(ApplicationFactory(), ["acc-u", "acc-v"], [entry])
        token, _ = lifecycle.issue_token(grant)
        api = Api()
        params = {"limit": limit, "offset": offset}

        bounded = walk(api, token, params)
        bounded_back = previous(api, token, bounded)
        real = serving._Bounds.of
        serving._Bounds.of = classmethod(lambda cls, *args: None)
        try:
            whole = walk(api, token, params)
            whole_back = previous(api, token, whole)
        finally:
            serving._Bounds.of = real
        assert bounded == whole
        assert bounded_back == whole_back


@pytest.mark.django_db
def test_a_first_page_of_hourly_aggregates_reads_only_the_days_it_shows(api, token_for):
    load_usage(daily_segments(START.date(), 60))
    token = token_for(["acc-u"], [{"type": "cds_usage", "aggregation_type": "hourly_aggregates"}])
    with CaptureQueriesContext(connection) as queries:
        page = api.get("usage-segments", token, limit=24)
    assert len(page.data_["usage_segments"]) == 24
    read = [q["sql"] for q in queries if "totals_json" in q["sql"]]
    assert len(read) == 1 and '"segment_start" <' in read[0]


@pytest.mark.django_db
def test_an_account_left_within_the_offset_was_read_to_its_end(api, token_for):
    # acc-u has data at hours 240 and 288 (a day without data between, served as null), so a
    # page that skips past acc-u must not take its bounded reading for all of it.
    runs = [("acc-u", 240, 5), ("acc-u", 288, 1), ("acc-v", 134, 17), ("acc-v", 151, 17)]
    segments = [
        segment(
            f"us-{n}",
            START + timedelta(hours=hour),
            [[{"eu": Decimal(1)}]] * length,
            interval=3600,
            account=account,
            meter="md-u" if account == "acc-u" else "md-v",
        )
        for n, (account, hour, length) in enumerate(runs)
    ]
    load_usage(segments, accounts=("acc-u", "acc-v"), meters=("md-u", "md-v"))
    entry = {
        "type": "cds_usage",
        "aggregation_type": "daily_aggregates",
        "segment_start": utc(START + timedelta(hours=41)),
    }
    token = token_for(["acc-u", "acc-v"], [entry])
    everything = api.rows("usage-segments", token, "usage_segments")
    page = api.rows("usage-segments", token, "usage_segments", offset=4, limit=3)
    assert page == everything[4:7]
