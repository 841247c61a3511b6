"""Erlang C against published figures, and the properties any staffing answer must have."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from metrics.staffing import Staffing, erlang_b, erlang_c, offered_erlangs, required_agents


def test_the_textbook_queue_100_calls_per_half_hour_of_180_s_at_80_in_20() -> None:
    erlangs = offered_erlangs(100, 1800, 180)
    assert erlangs == 10.0
    needed = required_agents(erlangs, 180, target_level=0.80, threshold_seconds=20)
    assert needed.agents == 14
    assert round(needed.service_level(20), 3) == 0.888
    assert round(needed.average_speed_of_answer, 1) == 7.8
    assert round(needed.occupancy, 3) == 0.714
    one_short = Staffing(13, erlangs, 180)
    assert round(one_short.service_level(20), 3) == 0.796
    assert round(one_short.average_speed_of_answer, 1) == 17.1


def test_erlang_b_and_c_of_known_values_and_of_huge_queues() -> None:
    assert round(erlang_b(10, 10.0), 4) == 0.2146  # Erlang B tables: 10 servers, 10 E
    assert round(erlang_c(14, 10.0), 4) == 0.1741
    assert erlang_c(10, 10.0) == 1.0 and erlang_c(3, 10.0) == 1.0  # cannot keep up: everyone waits
    big = erlang_c(1000, 950.0)  # no factorial, no overflow
    assert 0.0 < big < 1.0 and math.isfinite(big)


def test_a_queue_that_cannot_keep_up_has_no_service_level() -> None:
    short = Staffing(9, 10.0, 180)
    assert short.service_level(20) == 0.0
    assert short.average_speed_of_answer == math.inf
    assert short.occupancy == 1.0


def test_maximum_occupancy_can_ask_for_more_agents_than_the_target() -> None:
    assert required_agents(10.0, 180, 0.8, 20, max_occupancy=0.65).agents == 16  # ceil(10 / 0.65)
    assert required_agents(0.0, 180, 0.8, 20).agents == 0


@given(
    erlangs=st.floats(min_value=0.1, max_value=300.0),
    extra=st.integers(min_value=1, max_value=60),
    threshold=st.floats(min_value=0.0, max_value=600.0),
    handle=st.floats(min_value=10.0, max_value=3600.0),
)
def test_more_agents_never_lower_the_service_level_nor_raise_the_wait(
    erlangs: float, extra: int, threshold: float, handle: float
) -> None:
    fewer = Staffing(math.floor(erlangs) + 1, erlangs, handle)
    more = Staffing(fewer.agents + extra, erlangs, handle)
    assert more.service_level(threshold) >= fewer.service_level(threshold) - 1e-12
    assert more.average_speed_of_answer <= fewer.average_speed_of_answer + 1e-9
    assert 0.0 <= more.waiting_probability <= fewer.waiting_probability <= 1.0


@given(
    erlangs=st.floats(min_value=0.1, max_value=200.0),
    target=st.floats(min_value=0.5, max_value=0.99),
    threshold=st.floats(min_value=5.0, max_value=120.0),
)
def test_required_agents_are_the_fewest_that_meet_the_target(
    erlangs: float, target: float, threshold: float
) -> None:
    needed = required_agents(erlangs, 180.0, target, threshold)
    assert needed.service_level(threshold) >= target
    below = Staffing(needed.agents - 1, erlangs, 180.0)
    assert needed.agents - 1 <= erlangs or below.service_level(threshold) < target
