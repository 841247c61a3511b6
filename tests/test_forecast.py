"""The arrivals forecast on hand-made histories: weekly seasonality, holidays, summer time, the
intraday correction, and accuracy against the seasonal-naive baseline on random arrivals."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metrics.business_hours import Calendar
from metrics.forecast import Forecaster, seasonal_naive, wape

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp()


def weekly(days: int, end: str, per_interval, forecaster: Forecaster) -> dict[float, float]:
    """``days`` of history up to ``end`` (local), each interval's count from ``per_interval(local)``."""
    history: dict[float, float] = {}
    start = forecaster.interval_start(at(end) - days * 86400)
    while start < at(end):
        history[start] = per_interval(datetime.fromtimestamp(start, LONDON))
        start = forecaster.next_start(start)
    return history


def shape(local: datetime) -> float:
    """Weekdays 08–18 with a late-morning peak; Saturday mornings small; otherwise nothing."""
    if local.weekday() < 5 and 8 <= local.hour < 18:
        return 30.0 if 10 <= local.hour < 12 else 12.0
    if local.weekday() == 5 and 9 <= local.hour < 13:
        return 5.0
    return 0.0


def test_an_interval_is_forecast_from_the_same_local_interval_of_recent_weeks():
    f = Forecaster(LONDON, interval_seconds=1800, weeks=4)
    # Four weeks and this Monday up to 10:00, as usual so far (so no correction).
    history = weekly(28 + 10 / 24, "2026-11-16 10:00", shape, f)
    history[at("2026-11-09 10:30")] = 50.0  # one odd Monday
    now = at("2026-11-16 10:05")
    got = dict(f.forecast(history, now, 4))
    assert list(got) == [at(f"2026-11-16 {t}") for t in ("10:00", "10:30", "11:00", "11:30")]
    assert got[at("2026-11-16 10:00")] == 30.0
    assert got[at("2026-11-16 10:30")] == (30.0 * 3 + 50.0) / 4
    assert f.forecast(history, at("2026-11-21 09:00"), 1)[0][1] == 5.0  # Saturday morning
    assert f.forecast(history, at("2026-11-22 09:00"), 1)[0][1] == 0.0  # Sunday


def test_history_that_does_not_reach_back_is_unknown_not_zero():
    f = Forecaster(LONDON, weeks=4)
    history = weekly(7 + 10 / 24, "2026-11-16 10:00", shape, f)  # one week only
    assert f.forecast(history, at("2026-11-16 10:00"), 1)[0][1] == 30.0
    assert f.forecast({}, at("2026-11-16 10:00"), 1)[0][1] is None


def test_a_holiday_is_left_out_of_the_history_and_forecast_closed():
    calendar = Calendar.parse(
        {"zone": "Europe/London", "hours": {d: "08:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
         "holidays": ["2026-11-09", "2026-11-23"]}
    )  # fmt: skip
    f = Forecaster(LONDON, weeks=4, calendar=calendar)
    history = weekly(28 + 10 / 24, "2026-11-16 10:00", shape, f)
    history[at("2026-11-09 10:00")] = 0.0  # the holiday: nobody called
    assert f.forecast(history, at("2026-11-16 10:00"), 1)[0][1] == 30.0  # not 22.5
    # A holiday ahead is forecast from the recent days closed all day that the history covers:
    # Sunday the 15th, Saturday the 14th, the holiday on the 9th, Sunday the 8th.
    assert f.forecast(history, at("2026-11-23 10:00"), 1)[0][1] == (0.0 + 5.0 + 0.0 + 0.0) / 4
    assert f.forecast(history, at("2026-11-16 19:00"), 1)[0][1] == 0.0  # after hours, as every Monday


def test_summer_time_keeps_each_interval_at_its_local_hour():
    f = Forecaster(LONDON, interval_seconds=1800, weeks=2)
    # Summer time ended on Sunday 2026-10-25: the Monday after is an hour later in UTC.
    history = weekly(14 + 10 / 24, "2026-10-26 10:00", shape, f)
    got = f.forecast(history, at("2026-10-26 10:00"), 2)
    assert got == [(at("2026-10-26 10:00"), 30.0), (at("2026-10-26 10:30"), 30.0)]
    assert at("2026-10-26 10:00") - f.same_interval_weeks_ago(at("2026-10-26 10:00"), 1) == 7 * 86400 + 3600
    # The night the clocks go back has two 01:00–01:30 intervals, one after the other.
    night = [f.interval_start(at("2026-10-25 00:30"))]
    for _ in range(4):
        night.append(f.next_start(night[-1]))
    assert [b - a for a, b in itertools.pairwise(night)] == [1800.0] * 4


def test_the_rest_of_today_follows_how_today_runs_within_bounds():
    f = Forecaster(LONDON, weeks=4, correction_minimum=20.0, correction_credibility=0.0)
    history = weekly(28, "2026-11-16 00:00", shape, f)
    busy = dict(history)
    for hour in (8, 9):  # a busy morning: half as much again as usual
        for minute in (0, 30):
            busy[at(f"2026-11-16 {hour:02d}:{minute:02d}")] = 18.0
    assert f.correction(busy, at("2026-11-16 10:10")) == 1.5
    assert f.forecast(busy, at("2026-11-16 10:10"), 1)[0][1] == 45.0
    # Tomorrow is not corrected by today.
    tomorrow = f.forecast(busy, at("2026-11-16 23:50"), 22)[-1]
    assert tomorrow == (at("2026-11-17 10:00"), 30.0)
    frantic = dict(history) | {at("2026-11-16 09:00"): 500.0}
    assert f.correction(frantic, at("2026-11-16 10:10")) == 2.0  # bounded
    assert f.correction(history, at("2026-11-16 08:10")) == 1.0  # 12 forecast so far: too few to judge
    # With credibility, the day's ratio counts by how much it rests on: 48 forecast so far
    # (08:00-10:00), against 120, counts 48 ÷ 168 of its 0.5 above 1.
    credible = replace(f, correction_credibility=120.0)
    assert credible.correction(busy, at("2026-11-16 10:10")) == pytest.approx(1 + 48 / 168 * 0.5)


def test_the_mean_of_four_weeks_beats_last_week_on_random_arrivals():
    """Poisson arrivals around the weekly shape: averaging four weeks halves the noise of one."""
    rng = random.Random(7)
    f = Forecaster(LONDON, weeks=4)

    def poisson(mean: float) -> float:
        count, t = 0, rng.expovariate(1.0)
        while t < mean:
            count, t = count + 1, t + rng.expovariate(1.0)
        return float(count)

    history = weekly(35, "2026-11-23 00:00", lambda local: poisson(shape(local)), f)
    starts = [s for s in history if s >= at("2026-11-16 00:00")]  # the last week, not seen by either
    actual = [history[s] for s in starts]
    past = {s: c for s, c in history.items() if s < at("2026-11-16 00:00")}
    ours = [f.baseline(past, s) or 0.0 for s in starts]
    naive = [seasonal_naive(f, past, s) for s in starts]
    assert wape(actual, ours) < 0.9 * wape(actual, naive)
    assert wape([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert wape([10.0, 0.0], [8.0, 1.0]) == pytest.approx(0.3)


def test_intervals_align_to_local_midnight():
    f = Forecaster(LONDON, interval_seconds=900)
    assert f.interval_start(at("2026-11-16 10:14:59")) == at("2026-11-16 10:00")
    assert f.interval_start(at("2026-11-16 10:15")) == at("2026-11-16 10:15")
    assert f.next_start(at("2026-11-16 23:45")) == at("2026-11-17 00:00")
    assert datetime.fromtimestamp(f.next_start(at("2026-11-16 23:45")), LONDON) - datetime.fromtimestamp(
        at("2026-11-16 23:45"), LONDON
    ) == timedelta(minutes=15)
