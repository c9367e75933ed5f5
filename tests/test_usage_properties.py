"""Property: every aggregate served equals the sum of exactly the stored values inside its
period and the grant window; no value outside the window reaches any number served."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cdsapi.grants import lifecycle
from tests.conftest import Api
from tests.factories import ApplicationFactory
from tests.usage_data import daily_segments, load_usage, local_midnight, utc

FIRST = date(2025, 10, 31)  # a month's end, and the November 2 fall-back (a 25-hour day)
DAYS = 3
START = local_midnight(FIRST)
END = local_midnight(FIRST + timedelta(days=DAYS))
SPAN = int((END - START).total_seconds())

values_st = st.lists(
    st.one_of(st.none(), st.integers(-5000, 99999).map(lambda n: Decimal(n).scaleb(-3))),
    min_size=SPAN // 900,
    max_size=SPAN // 900,
)
bound_st = st.one_of(
    st.none(), st.integers(0, SPAN // 60).map(lambda m: START + timedelta(minutes=m))
)


class UsageAggregateProperties(TestCase):
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        values=values_st,
        lo=bound_st,
        hi=bound_st,
        aggregation=st.sampled_from(
            ["hourly_aggregates", "daily_aggregates", "monthly_aggregates"]
        ),
    )
    def test_aggregates_are_exact_sums_inside_the_window(self, values, lo, hi, aggregation):
        if lo is not None and hi is not None and lo >= hi:
            lo, hi = None, hi
        segments = daily_segments(FIRST, DAYS)
        stream = iter(values)
        stored = []  # (start, end, value) of every stored quarter-hour
        for seg in segments:
            start = datetime.fromisoformat(seg["segment_start"])
            for i in range(len(seg["values"])):
                value = next(stream)
                seg["values"][i] = [None if value is None else {"eu": value}]
                begin = start + timedelta(seconds=900 * i)
                stored.append((begin, begin + timedelta(seconds=900), value))
        load_usage(segments)
        entry = {"type": "cds_usage", "aggregation_type": aggregation}
        if lo is not None:
            entry["segment_start"] = utc(lo)
        if hi is not None:
            entry["segment_end"] = utc(hi)
        grant = lifecycle.create_grant(ApplicationFactory(), ["acc-u"], [entry])
        token, _ = lifecycle.issue_token(grant)
        api = Api()
        page = api.get("usage-segments", token).data_
        rows = page["usage_segments"]
        while page["next"]:
            page = api.client.get(page["next"], HTTP_AUTHORIZATION=f"Bearer {token}")
            page = page.json(parse_float=Decimal)
            rows += page["usage_segments"]

        window_lo = lo or datetime.min.replace(tzinfo=UTC)
        window_hi = hi or datetime.max.replace(tzinfo=UTC)
        inside = [(b, e, v) for b, e, v in stored if b >= window_lo and e <= window_hi]
        served_total = Decimal(0)
        for row in rows:
            p_lo = datetime.fromisoformat(row["segment_start"])
            p_hi = datetime.fromisoformat(row["segment_end"])
            assert window_lo <= p_lo < p_hi <= window_hi
            expected = [v for b, e, v in inside if p_lo <= b and e <= p_hi and v is not None]
            [[served]] = row["values"]
            if expected:
                assert served == {"eu": sum(expected, Decimal(0))}
                served_total += served["eu"]
            else:
                assert served is None
        assert served_total == sum((v for *_, v in inside if v is not None), Decimal(0))
