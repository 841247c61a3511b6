"""``cxpulse top`` in a real pseudo-terminal against a real worker: the screen shows the queue now."""

from __future__ import annotations

import os
import sys
import time

import pexpect
import pyte
import pytest
from helpers import agent, event, produce, wait_for

from streams.tools.top import summarise

pytestmark = pytest.mark.kafka

COLUMNS, LINES = 150, 24


def test_summarise_adds_up_workers_and_channels() -> None:
    one = (
        'cxpulse_calls_waiting{queue="billing",channel="phone"} 2\n'
        'cxpulse_longest_call_wait_seconds{queue="billing",channel="phone"} 41\n'
        'cxpulse_window_calls_offered{queue="billing",channel="phone",window="15m"} 10\n'
        'cxpulse_window_calls_offered{queue="billing",channel="phone",window="1h"} 99\n'
        'cxpulse_window_calls_short_abandoned{queue="billing",channel="phone",window="15m"} 2\n'
        'cxpulse_window_calls_answered_within_sla{queue="billing",channel="phone",window="15m"} 6\n'
        'cxpulse_agents{queue="billing",channel="phone",state="busy"} 3\n'
    )
    two = (
        'cxpulse_calls_waiting{queue="billing",channel="callback"} 1\n'
        'cxpulse_longest_call_wait_seconds{queue="billing",channel="callback"} 7\n'
        'cxpulse_agents{queue="billing",channel="callback",state="busy"} 1\n'
        'cxpulse_staffing_gap_agents{queue="billing",channel="callback"} 2\n'
        'cxpulse_events_total{topic="calls",type="call.queued"} 5\n'
    )
    queues, events = summarise([one, two])
    billing = queues["billing"]
    assert (billing.waiting, billing.longest_wait, billing.agents["busy"], billing.gap) == (3, 41, 4, 2)
    assert billing.service_level == 6 / 8 and billing.required is None and events == 5


def screen_of(
    child: pexpect.spawn, screen: pyte.Screen, stream: pyte.ByteStream, seconds: float
) -> list[str]:
    """Feed what the program drew for ``seconds`` into the emulator; the screen's lines."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stream.feed(child.read_nonblocking(65536, timeout=0.2))
        except pexpect.TIMEOUT:
            continue
    return list(screen.display)


def seconds(duration: str) -> int:
    """``1m40s`` → 100, as ``cxpulse top`` writes durations."""
    total, number = 0, ""
    for char in duration:
        if char.isdigit():
            number += char
        else:
            total += int(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total


def row(lines: list[str], queue: str) -> list[str] | None:
    for line in lines:
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) > 2 and cells[1] == queue:
            return cells[1:-1]
    return None


def test_top_shows_the_queue_now_in_a_terminal(stack, kafka, tmp_path) -> None:
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    now = time.time()
    events = [
        event("call.queued", "C1", now - 95, "billing", "phone"),
        event("call.queued", "C2", now - 30, "billing", "phone"),
        event("call.queued", "C3", now - 200, "billing", "phone"),
        event("call.answered", "C3", now - 190, "billing", "phone", agent_id="A2"),
        event("call.ended", "C3", now - 10, "billing", "phone", agent_id="A2"),
        event("ticket.created", "T1", now - 400, "billing", "email"),
        agent("available", "A1", now - 600),
        agent("busy", "A2", now - 190),
        agent("away", "A3", now - 60),
    ]
    produce(kafka.bootstrap, stack.records(events))
    wait_for(
        lambda: (
            worker.metrics().get(
                ("cxpulse_calls_waiting", frozenset({("queue", "billing"), ("channel", "phone")}))
            )
            == 2
        ),
        60,
        what="two callers waiting",
    )
    url = f"http://127.0.0.1:{worker.port}/metrics"
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "streams.tools.cli", "top", url, "--interval", "0.5"],
        dimensions=(LINES, COLUMNS),
        env=env,
        timeout=10,
    )
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    try:
        lines = screen_of(child, screen, stream, 4)
        cells = row(lines, "billing")
        assert cells is not None, "\n".join(lines)
        header = next(line for line in lines if "cxpulse top" in line)
        assert "1/1 workers" in header
        (tmp_path / "top-screen.txt").write_text("\n".join(lines))
        print("\n".join(line.rstrip() for line in lines if line.strip()))
        waiting, longest, level, available, busy, wrap, away, need, short, new, oldest, open_ = cells[1:]
        assert (waiting, level, available, busy, wrap, away) == ("2", "33%", "1", "1", "0", "1")
        assert (
            95 <= seconds(longest) <= 95 + time.time() - now + 2
        )  # C1: queued 95 s before `now`, still waiting
        assert (new, open_) == ("1", "1")
        assert 400 <= seconds(oldest) <= time.time() - now + 460  # T1, to the minute it was created in
        # 3 calls in 15 minutes, 180 s handle time: 0.6 erlangs need 2 agents (80 % in 20 s within
        # 85 % occupancy), and two are staffed (A1 available, A2 busy; A3 is away).
        assert (need, short) == ("2", "+0")
        # A second later the longest wait has moved on: the screen ticks without new events.
        later = row(screen_of(child, screen, stream, 2), "billing")
        assert later is not None and later[2] != longest
    finally:
        child.sendintr()
        child.expect(pexpect.EOF, timeout=10)
        child.close()
    assert child.exitstatus == 0, child.before
