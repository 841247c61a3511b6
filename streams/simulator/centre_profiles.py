"""Named contact centres for the simulator: which queues and channels, and when the floor is open.

The demo's centre is open around the clock with a ten-minute swing, so a short run shows every
panel move. A history meant to be judged day by day (a backfill, an alert backtest) needs the
shape real centres have instead: opening hours per weekday, nights and Sundays closed, a
morning peak and an after-lunch peak, Mondays busier than Fridays. Emails still arrive at night,
at a trickle, and wait for the morning; calls arrive only while the phones are open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from metrics.business_hours import Calendar

# Relative arrivals by local hour of an open day (the curve of a typical inbound centre:
# a ramp from opening, a late-morning peak, a lunch dip, a smaller afternoon peak).
DAY_CURVE = (
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.3,
    0.6,  # 00-07
    0.9,
    1.3,
    1.5,
    1.4,
    1.0,
    1.1,
    1.3,
    1.2,  # 08-15
    1.0,
    0.8,
    0.5,
    0.3,
    0.2,
    0.2,
    0.2,
    0.2,  # 16-23
)
# Relative arrivals by weekday, Monday first.
WEEK_CURVE = (1.2, 1.05, 1.0, 1.0, 0.9, 0.6, 0.5)


@dataclass(frozen=True)
class CentreProfile:
    """A simulated centre; ``rate`` is its mean new contacts per second while open."""

    name: str
    queues: tuple[str, ...]
    ticket_channels: dict[str, float]  # channel -> share of tickets
    call_share: float  # of new contacts while open
    rate: float
    calendar: Calendar | None = None  # None: open around the clock, swinging every ten minutes
    closed_ticket_rate: float = 0.1  # tickets arriving while closed, relative to the open mean
    description: str = ""
    _hours_mean: float = field(default=1.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.calendar is not None:
            # Mean intensity over the open hours of a week, so ``rate`` stays the mean while open.
            samples = [
                self._shape(day, hour + 0.5)
                for day in range(7)
                for hour in range(24)
                for opens, closes in self.calendar.hours.get(day, ())
                if opens.hour <= hour < closes.hour + (closes.minute > 0)
            ]
            object.__setattr__(self, "_hours_mean", sum(samples) / len(samples) if samples else 1.0)

    @staticmethod
    def _shape(weekday: int, hour: float) -> float:
        low = int(hour) % 24
        frac = hour - int(hour)
        curve = DAY_CURVE[low] * (1 - frac) + DAY_CURVE[(low + 1) % 24] * frac
        return curve * WEEK_CURVE[weekday]

    def intensity(self, at: float) -> float:
        """Arrivals at ``at`` relative to ``rate``: the day's curve while open, a trickle when closed."""
        if self.calendar is None:
            return 1.0
        if not self.calendar.is_open(at):
            return self.closed_ticket_rate
        local = datetime.fromtimestamp(at, self.calendar.zone)
        return self._shape(local.weekday(), local.hour + local.minute / 60) / self._hours_mean

    def peak_intensity(self) -> float:
        """The busiest open moment's arrivals relative to ``rate``: what a roster is sized for."""
        if self.calendar is None:
            return 1.4  # the ten-minute swing's top
        return max(
            self._shape(day, hour + 0.5) / self._hours_mean
            for day in range(7)
            for hour in range(24)
            for opens, closes in self.calendar.hours.get(day, ())
            if opens.hour <= hour < closes.hour + (closes.minute > 0)
        )

    def is_open(self, at: float) -> bool:
        return self.calendar is None or self.calendar.is_open(at)

    def next_opening(self, at: float) -> float:
        """``at`` while open, else when the floor opens next (far in the future if it never does)."""
        if self.calendar is None:
            return at
        found = self.calendar.next_opening(at)
        return math.inf if found is None else found


def _weekdays(hours: str, saturday: str | None) -> dict[str, str]:
    days = {day: hours for day in ("mon", "tue", "wed", "thu", "fri")}
    if saturday:
        days["sat"] = saturday
    return days


PROFILES: dict[str, CentreProfile] = {
    profile.name: profile
    for profile in (
        CentreProfile(
            name="demo",
            queues=("billing", "tech-support", "sales", "returns"),
            ticket_channels={"email": 4, "chat": 3, "web": 2, "social": 1},
            call_share=0.45,
            rate=4.0,
            description="4 queues, every channel, open around the clock, 4 contacts a second",
        ),
        CentreProfile(
            name="small",
            queues=("billing", "tech-support", "sales"),
            ticket_channels={"email": 1},
            call_share=0.5,
            rate=0.1,
            calendar=Calendar.parse(
                {"zone": "Europe/London", "hours": _weekdays("08:00-18:00", "09:00-13:00")}
            ),
            description="3 queues, phone and email, weekdays 08-18 and Saturday mornings, "
            "about a call and a ticket a minute per queue",
        ),
        CentreProfile(
            name="large",
            queues=tuple(f"queue-{i:02d}" for i in range(1, 21)),
            ticket_channels={"email": 3, "chat": 2},
            call_share=0.5,
            rate=0.7,
            calendar=Calendar.parse(
                {"zone": "Europe/London", "hours": _weekdays("08:00-20:00", "09:00-17:00")}
            ),
            description="20 queues, phone, email and chat, weekdays 08-20 and Saturdays 09-17, "
            "about a call and a ticket a minute per queue",
        ),
    )
}
