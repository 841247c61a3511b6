"""The agents view of ``cxpulse top``: each agent's state and day, from the workers' ``/agents``.

Each worker serves the agents of the partitions it owns, so the workers' lists together are the
floor; an agent listed twice (a partition moving between two reads) is shown once, as the worker
that saw its latest change has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from metrics.documents import JsonObject

# Sort keys, in the order the "s" key cycles through them; each sorts its "worst" first.
SORTS = ("time", "state", "agent", "calls", "aht", "occupancy", "missed")
SORT_COLUMN = {
    "time": "in state",
    "state": "state",
    "agent": "agent",
    "calls": "calls today",
    "aht": "AHT today",
    "occupancy": "occupancy 1h",
    "missed": "missed in a row",
}  # the column each order sorts by
STATE_ORDER = {"away": 0, "available": 1, "wrap_up": 2, "busy": 3, "offline": 4}
HIGH_OCCUPANCY = 0.9


@dataclass(frozen=True)
class AgentNow:
    agent: str
    name: str | None
    state: str
    seconds_in_state: float | None
    queues: tuple[str, ...]
    calls_today: int
    aht_today: float | None
    occupancy: float | None
    missed_today: int
    missed_in_a_row: int
    flagged: bool

    @property
    def shown(self) -> str:
        return self.name or self.agent


def agents_from(documents: Iterable[JsonObject]) -> list[AgentNow]:
    """The agents of every worker's ``/agents`` answer, each once."""
    latest: dict[str, tuple[float, AgentNow]] = {}
    for doc in documents:
        for row in doc.get("agents", []):
            since = row.get("since") or 0.0
            seen = latest.get(row["agent"])
            if seen is not None and seen[0] >= since:
                continue
            latest[row["agent"]] = (
                since,
                AgentNow(
                    row["agent"],
                    row.get("name"),
                    row["state"],
                    row.get("seconds_in_state"),
                    tuple(row.get("queues", ())),
                    int(row.get("calls_handled_today", 0)),
                    row.get("mean_handle_seconds_today"),
                    row.get("occupancy_1h"),
                    int(row.get("missed_offers_today", 0)),
                    int(row.get("missed_in_a_row", 0)),
                    bool(row.get("flagged")),
                ),
            )
    return [agent for _, agent in latest.values()]


def sorted_agents(agents: list[AgentNow], by: str) -> list[AgentNow]:
    """Agents in the order of ``by``: the longest in state, the most calls, the longest handle
    time, the busiest, the most missed first; states as away, available, wrap-up, busy, offline."""
    keys = {
        "time": lambda a: -(a.seconds_in_state or 0.0),
        "state": lambda a: (STATE_ORDER.get(a.state, 5), -(a.seconds_in_state or 0.0)),
        "agent": lambda a: a.shown.lower(),
        "calls": lambda a: -a.calls_today,
        "aht": lambda a: -(a.aht_today or 0.0),
        "occupancy": lambda a: -(a.occupancy if a.occupancy is not None else -1.0),
        "missed": lambda a: (-a.missed_in_a_row, -a.missed_today),
    }
    return sorted(agents, key=lambda a: (keys[by](a), a.shown.lower()))


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def agents_table(agents: list[AgentNow], by: str, away_limit: float) -> Table:
    """The agents table; what a supervisor acts on in red: away longer than ``away_limit`` seconds,
    an agent flagged for missing offers in a row; occupancy above 90 % in yellow."""
    table = Table(expand=True, header_style="bold")
    columns = ("agent", "state", "in state", "queues", "calls today", "AHT today", "occupancy 1h",
               "missed today", "missed in a row")  # fmt: skip
    for column in columns:
        marked = f"{column} ▼" if SORT_COLUMN.get(by) == column else column
        table.add_column(
            marked, no_wrap=column == "agent", justify="left" if column in columns[:4] else "right"
        )
    for a in sorted_agents(agents, by):
        in_state = "-" if a.seconds_in_state is None else duration(a.seconds_in_state)
        long_away = a.state == "away" and (a.seconds_in_state or 0.0) > away_limit
        busy = a.occupancy is not None and a.occupancy > HIGH_OCCUPANCY
        table.add_row(
            a.shown,
            Text(a.state, style="bold red" if long_away else ""),
            Text(in_state, style="bold red" if long_away else ""),
            ", ".join(a.queues),
            str(a.calls_today),
            "-" if a.aht_today is None else duration(a.aht_today),
            Text("-" if a.occupancy is None else f"{a.occupancy:.0%}", style="yellow" if busy else ""),
            str(a.missed_today),
            Text(str(a.missed_in_a_row), style="bold red" if a.flagged else ""),
        )
    return table


AGENTS_LEGEND = (
    "keys: a queues/agents  s sort  q quit; red: away longer than the limit (--away-minutes), "
    "missed offers in a row that raised CxpulseAgentsMissingOffers; yellow: occupancy above 90 %; "
    "today: since the day began in the zone of the queue of the agent's last call"
)
