"""Erlang A against figures from an independent birth–death solve, and the properties it must have."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metrics.erlang_a import ErlangA, agents_to_schedule, estimate_patience, required_agents_a, staffing_plan
from metrics.staffing import Staffing, offered_erlangs, required_agents

RATE = 100 / 1800  # 100 calls per 30 minutes


def test_the_check_figures_of_a_queue_whose_callers_hang_up():
    queue = ErlangA(agents=14, calls_per_second=RATE, handle_seconds=180, patience_seconds=300)
    assert round(queue.waiting_probability, 6) == 0.145260
    assert round(queue.abandon_probability, 6) == 0.013984
    assert round(queue.mean_wait_seconds, 3) == 4.195
    assert round(queue.occupancy, 6) == 0.704297
    # Occupancy is also the answered work over the agents: λ·(1 − P(abandon))·handle ÷ agents.
    assert queue.occupancy == pytest.approx(RATE * (1 - queue.abandon_probability) * 180 / 14, rel=1e-9)


def test_with_callers_who_never_hang_up_it_is_erlang_c():
    queue = ErlangA(agents=14, calls_per_second=RATE, handle_seconds=180, patience_seconds=1e9)
    assert round(queue.waiting_probability, 6) == 0.174132
    assert round(queue.service_level(20), 6) == 0.888350
    assert round(queue.mean_wait_seconds, 3) == 7.836
    assert round(queue.occupancy, 6) == 0.714286


def test_service_level_spans_from_nobody_waiting_to_everyone_answered():
    queue = ErlangA(agents=14, calls_per_second=RATE, handle_seconds=180, patience_seconds=300)
    assert queue.service_level(0) == pytest.approx(1 - queue.waiting_probability, abs=1e-12)
    # Given hours, every caller who does not hang up is answered.
    assert queue.service_level(7200) == pytest.approx(1 - queue.abandon_probability, abs=1e-9)
    assert round(queue.service_level(20), 6) == 0.916792


def test_staffing_with_abandons_needs_fewer_agents_and_shrinkage_adds_to_the_rota():
    with_abandons = required_agents_a(RATE, 180, 300, target_level=0.8, threshold_seconds=20)
    without = required_agents(offered_erlangs(100, 1800, 180), 180, 0.8, 20)
    assert (with_abandons.agents, without.agents) == (13, 14)
    assert with_abandons.service_level(20) >= 0.8
    assert ErlangA(12, RATE, 180, 300).service_level(20) < 0.8
    assert agents_to_schedule(14, 0.30) == 20
    assert agents_to_schedule(14, 0.0) == 14
    with pytest.raises(ValueError, match="shrinkage"):
        agents_to_schedule(14, 1.0)


loads = {
    "calls_per_second": st.floats(min_value=0.001, max_value=3.0),
    "handle_seconds": st.floats(min_value=30.0, max_value=900.0),
    "patience_seconds": st.floats(min_value=10.0, max_value=1200.0),
}


@settings(max_examples=60, deadline=None)
@given(
    **loads, extra=st.integers(min_value=1, max_value=5), threshold=st.floats(min_value=0.0, max_value=120.0)
)
def test_more_agents_are_never_worse(
    calls_per_second: float, handle_seconds: float, patience_seconds: float, extra: int, threshold: float
):
    agents = max(1, int(calls_per_second * handle_seconds))
    fewer = ErlangA(agents, calls_per_second, handle_seconds, patience_seconds)
    more = ErlangA(agents + extra, calls_per_second, handle_seconds, patience_seconds)
    assert more.waiting_probability <= fewer.waiting_probability + 1e-12
    assert more.abandon_probability <= fewer.abandon_probability + 1e-12
    assert more.mean_wait_seconds <= fewer.mean_wait_seconds + 1e-9
    assert more.service_level(threshold) >= fewer.service_level(threshold) - 1e-9
    for queue in (fewer, more):
        assert 0.0 <= queue.abandon_probability <= queue.waiting_probability <= 1.0
        assert 0.0 <= queue.service_level(threshold) <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    erlangs=st.floats(min_value=0.5, max_value=60.0),
    spare=st.integers(min_value=1, max_value=8),
    threshold=st.floats(min_value=0.0, max_value=60.0),
)
@example(erlangs=0.99999, spare=1, threshold=0.0)  # next to capacity: Erlang C's queue is endless
def test_as_patience_grows_without_bound_erlang_a_tends_to_erlang_c(
    erlangs: float, spare: int, threshold: float
):
    handle = 180.0
    # Convergence holds at every load, but next to capacity (one agent at 0.99999 erlangs)
    # Erlang C's mean queue is 100 000 calls long, and only patience far longer than that many
    # handle times brings the two within 1e-5: the bound is checked for loads up to 95 %.
    agents = max(int(erlangs) + spare, math.ceil(erlangs / 0.95))
    c = Staffing(agents, erlangs, handle)
    waits = [ErlangA(agents, erlangs / handle, handle, handle * f) for f in (10.0, 1e3, 1e10)]
    gaps = [abs(a.waiting_probability - c.waiting_probability) for a in waits]
    assert gaps[0] >= gaps[1] - 1e-12 and gaps[1] >= gaps[2] - 1e-12
    assert gaps[2] < 1e-5
    assert abs(waits[2].service_level(threshold) - c.service_level(threshold)) < 1e-5
    # Callers who hang up only shorten the wait of those behind them.
    assert all(a.waiting_probability <= c.waiting_probability + 1e-12 for a in waits)


def test_patience_is_estimated_from_every_second_waited_over_the_callers_who_hung_up():
    # 90 answered after 20 s each and 10 who hung up after 120 s: 3 000 s waited, 10 abandons.
    assert estimate_patience(10, 90 * 20 + 10 * 120) == 300.0
    assert estimate_patience(0, 5000) is None


def test_a_forecast_becomes_a_staffing_plan_per_interval():
    plan = staffing_plan(
        [(0.0, 100.0), (1800.0, 0.0), (3600.0, 200.0)],
        interval_seconds=1800,
        handle_seconds=180,
        patience_seconds=300,
        target_level=0.8,
        threshold_seconds=20,
        shrinkage=0.3,
    )
    assert [(p.needed, p.scheduled) for p in plan[:2]] == [(13, 19), (0, 0)]
    assert plan[0].service_level >= 0.8 > ErlangA(12, RATE, 180, 300).service_level(20)
    assert plan[2].needed > plan[0].needed and plan[2].service_level >= 0.8
    assert round(plan[0].abandon_probability, 4) == round(ErlangA(13, RATE, 180, 300).abandon_probability, 4)
