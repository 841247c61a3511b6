"""Business seconds: the worked examples of docs/kpis.md, summer time, holidays, and properties."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.business_hours import Calendar

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_6 = Calendar.parse(
    {
        "zone": "Europe/Paris",
        "hours": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-12-25"],
    }
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def test_friday_1755_to_monday_0905_is_ten_business_minutes() -> None:
    assert WEEKDAYS_9_TO_6.business_seconds(at("2026-11-27 17:55"), at("2026-11-30 09:05")) == 600.0


def test_a_ticket_opened_before_a_holiday_waits_through_it() -> None:
    # Thursday 24 December 17:00 → Monday 28 December 10:00: Christmas (Friday) and the weekend closed.
    assert WEEKDAYS_9_TO_6.business_seconds(at("2026-12-24 17:00"), at("2026-12-28 10:00")) == 2 * 3600.0


def test_outside_hours_and_reversed_intervals_count_nothing() -> None:
    assert WEEKDAYS_9_TO_6.business_seconds(at("2026-11-28 10:00"), at("2026-11-29 20:00")) == 0.0  # weekend
    assert WEEKDAYS_9_TO_6.business_seconds(at("2026-11-30 10:00"), at("2026-11-30 09:00")) == 0.0
    assert WEEKDAYS_9_TO_6.is_open(at("2026-11-30 09:00")) and not WEEKDAYS_9_TO_6.is_open(
        at("2026-11-30 18:00")
    )


def test_a_day_changing_to_summer_time_keeps_its_local_hours() -> None:
    night_shift = Calendar.parse({"zone": "Europe/Paris", "hours": {"sun": "00:00-06:00"}})
    # 29 March 2026: clocks jump from 02:00 to 03:00, so the shift lasts five real hours.
    assert night_shift.business_seconds(at("2026-03-29 00:00"), at("2026-03-29 12:00")) == 5 * 3600.0


def test_split_days_and_bad_calendars() -> None:
    split = Calendar.parse({"zone": "UTC", "hours": {"sat": "10:00-12:00, 14:00-16:00"}})
    start = datetime(2026, 11, 28, 11, tzinfo=ZoneInfo("UTC")).timestamp()
    assert split.business_seconds(start, start + 4 * 3600) == 2 * 3600.0  # 11-12 and 14-15 open
    with pytest.raises(ValueError, match="closes before it opens"):
        Calendar.parse({"hours": {"mon": "18:00-09:00"}})


@given(
    start=st.floats(min_value=1.7e9, max_value=1.8e9),
    first=st.floats(min_value=0, max_value=10 * 86400),
    second=st.floats(min_value=0, max_value=10 * 86400),
)
def test_business_time_adds_up_and_never_exceeds_calendar_time(
    start: float, first: float, second: float
) -> None:
    middle, end = start + first, start + first + second
    whole = WEEKDAYS_9_TO_6.business_seconds(start, end)
    parts = WEEKDAYS_9_TO_6.business_seconds(start, middle) + WEEKDAYS_9_TO_6.business_seconds(middle, end)
    assert abs(whole - parts) < 1e-6
    assert 0.0 <= whole <= end - start + 1e-6


def test_a_queue_with_a_calendar_observes_business_seconds_and_judges_its_sla_on_them() -> None:
    from helpers import event

    from metrics.contract.events import TICKETS
    from metrics.engine.rules.tickets import ticket_step
    from metrics.model import QueueFacts
    from metrics.policy import Policy, QueuePolicy

    policy = Policy.build(QueuePolicy(first_response_target_seconds=3600), {}, {"billing": WEEKDAYS_9_TO_6})
    assert policy.for_queue("sales").calendar is None

    def facts(*events: dict) -> list:
        state, out = None, []
        for ev in events:
            state, outputs = ticket_step(state, TICKETS.adapter.validate_python(ev), policy)
            out += [
                list(f[:3]) for o in outputs if isinstance(o, QueueFacts) for f in o.facts if f[1] or f[2]
            ]
        return out

    weekend = [
        event("ticket.created", "T", at("2026-11-27 17:55"), "billing"),
        event("ticket.replied", "T", at("2026-11-30 09:05"), "billing", author="agent"),
        event("ticket.resolved", "T", at("2026-11-30 10:05"), "billing"),
    ]
    _, replied, resolved = facts(*weekend)
    assert replied[1:] == [
        {"ticket_first_responses": 1},  # 600 business seconds: within the hour, no breach
        {"first_response_seconds": 227400.0, "first_response_business_seconds": 600.0},
    ]
    assert resolved[2] == {"resolution_seconds": 231000.0, "resolution_business_seconds": 4200.0}
    # The same ticket in a queue open around the clock: calendar time only, and a breach.
    other = [{**e, "queue": "sales", "event_id": e["event_id"] + "s"} for e in weekend]
    assert facts(*other)[1][1:] == [
        {"ticket_first_responses": 1, "first_response_sla_breaches": 1},
        {"first_response_seconds": 227400.0},
    ]
    # Opened before a holiday: Thursday 17:00 to Monday 10:00 is two business hours, a breach.
    holiday = [
        event("ticket.created", "H", at("2026-12-24 17:00"), "billing"),
        event("ticket.replied", "H", at("2026-12-28 10:00"), "billing", author="agent"),
    ]
    assert facts(*holiday)[1][1:] == [
        {"ticket_first_responses": 1, "first_response_sla_breaches": 1},
        {"first_response_seconds": 320400.0, "first_response_business_seconds": 7200.0},
    ]


def test_calendars_come_from_settings_per_queue_with_a_default() -> None:
    from streams.settings import Settings

    week = {"zone": "UTC", "hours": {"mon": "09:00-17:00"}}
    settings = Settings(
        business_hours={"billing": week, "*": {"zone": "UTC", "hours": {"sat": "10:00-12:00"}}}
    )
    policy = settings.policy()
    assert policy.for_queue("billing").calendar.hours.keys() == {0}
    assert policy.for_queue("anything").calendar.hours.keys() == {5}
    with pytest.raises(ValueError, match=r"queue 'billing'.*a calendar is"):
        Settings(business_hours={"billing": {"zone": "Mars/Olympus", "hours": {}}})


def test_the_next_opening_skips_the_weekend_and_holidays_and_closing_is_the_interval_end() -> None:
    assert WEEKDAYS_9_TO_6.next_opening(at("2026-11-27 18:00")) == at("2026-11-30 09:00")
    assert WEEKDAYS_9_TO_6.next_opening(at("2026-12-24 19:00")) == at("2026-12-28 09:00")  # 25th: holiday
    assert WEEKDAYS_9_TO_6.next_opening(at("2026-11-30 10:30")) == at("2026-11-30 10:30")  # open now
    assert WEEKDAYS_9_TO_6.closes_at(at("2026-11-30 10:30")) == at("2026-11-30 18:00")
    assert WEEKDAYS_9_TO_6.closes_at(at("2026-11-30 18:00")) is None
    assert Calendar.parse({"zone": "UTC", "hours": {}}).next_opening(0.0) is None
