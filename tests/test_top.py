"""``cxpulse top`` in a real pseudo-terminal against a real worker: the screen shows the queue now."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime

import pexpect
import pyte
import pytest
from helpers import agent, event, produce, wait_for

from streams.cli.top import summarise

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


def test_each_queue_is_judged_against_its_own_target_and_not_while_closed() -> None:
    from rich.console import Console

    from streams.cli.top import Scrape, render

    page = "".join(
        f'cxpulse_window_calls_offered{{queue="{q}",channel="phone",window="15m"}} 10\n'
        f'cxpulse_window_calls_answered_within_sla{{queue="{q}",channel="phone",window="15m"}} 7\n'
        f'cxpulse_service_level_target_ratio{{queue="{q}"}} {target}\n'
        f'cxpulse_queue_open{{queue="{q}"}} {is_open}\n'
        for q, target, is_open in (("billing", 0.6, 1), ("sales", 0.9, 1), ("returns", 0.9, 0))
    )
    queues, _ = summarise([page])
    assert {name: (q.target, q.is_open) for name, q in queues.items()} == {
        "billing": (0.6, True), "sales": (0.9, True), "returns": (0.9, False)}  # fmt: skip

    def level_style(target: float | None) -> dict[str, str]:
        console = Console(record=True, width=COLUMNS, color_system="truecolor")
        console.print(render(Scrape(queues, 0, [], time.time()), None, target, None, 1, live=False))
        screen = console.export_text(styles=False).splitlines()
        table = render(Scrape(queues, 0, [], time.time()), None, target, None, 1, live=False).renderables[1]
        cells = table.columns[3]._cells
        names = [str(c) for c in table.columns[0]._cells]
        assert any("returns (closed)" in line for line in screen)
        return {name.split()[0]: str(cell.style) for name, cell in zip(names, cells, strict=True)}

    # 70 % answered in time: on target for billing (60 %), below it for sales (90 %), and
    # returns is closed: shown, not judged.
    assert level_style(None) == {"billing": "green", "sales": "bold red", "returns": ""}
    assert level_style(0.5) == {"billing": "green", "sales": "green", "returns": ""}


@pytest.fixture
def one_worker_page():
    """A /metrics page as a worker serves it, on a loopback port of its own."""
    import http.server
    import threading

    page = (
        b'cxpulse_calls_waiting{queue="billing",channel="phone"} 1\n'
        b'cxpulse_staffing_gap_agents{queue="billing",channel="phone"} 2\n'
        b'cxpulse_staffing_gap_agents{queue="sales",channel="phone"} -3\n'
    )

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def test_top_once_prints_one_screen_and_fails_when_a_worker_cannot_be_read(one_worker_page) -> None:
    from click.testing import CliRunner
    from kafka_server import free_port

    from streams.cli.top import top

    nobody = f"http://127.0.0.1:{free_port()}/metrics"
    wide = {"COLUMNS": "160"}
    good = CliRunner(env=wide).invoke(top, ["--once", one_worker_page])
    assert good.exit_code == 0, good.output
    assert "1/1 workers" in good.output and "Ctrl-C" not in good.output
    assert "2 short" in good.output and "3 spare" in good.output and "short/spare:" in good.output
    half = CliRunner(env=wide).invoke(top, ["--once", one_worker_page, nobody])
    assert half.exit_code == 1
    assert "1 of 2 workers could not be read: the figures are incomplete" in half.output
    none = CliRunner(env=wide).invoke(top, ["--once", nobody])
    assert none.exit_code == 1
    assert "0/1 workers" in none.output and "Error: no worker could be read" in none.output


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


def seconds_at(e: dict) -> float:
    return datetime.fromisoformat(e["occurred_at"]).timestamp()


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
        ["-m", "streams.cli", "top", url, "--interval", "0.5", "--away-minutes", "0.5"],
        dimensions=(LINES, COLUMNS),
        env=env,
        timeout=10,
        # As a terminal starts it: a suite launched in the background (nohup, `&`) ignores SIGINT,
        # and a child inherits that, so Ctrl-C would never reach `cxpulse top`.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
        waiting, longest, level, available, busy, wrap, away, need, short, new, oldest, open_ = cells[1:13]
        assert (waiting, level, available, busy, wrap, away) == ("2", "33%", "1", "1", "0", "1")
        # The day so far (UTC midnight: no calendar): the three calls, C3 answered in 10 s, unless
        # the day began after some of them.
        day = time.time() // 86400 * 86400
        offered = sum(1 for e in events if e["type"] == "call.queued" and seconds_at(e) >= day)
        within = int(now - 190 >= day)
        assert cells[13:] == [str(offered), f"{within / offered:.0%}" if offered else "-"]
        assert (
            95 <= seconds(longest) <= 95 + time.time() - now + 2
        )  # C1: queued 95 s before `now`, still waiting
        assert (new, open_) == ("1", "1")
        assert 400 <= seconds(oldest) <= time.time() - now + 460  # T1, to the minute it was created in
        # 3 calls in 15 minutes, 180 s handle time: 0.6 erlangs need 2 agents (80 % in 20 s within
        # 85 % occupancy), and two are staffed (A1 available, A2 busy; A3 is away).
        assert (need, short) == ("2", "0")
        # A second later the longest wait has moved on: the screen ticks without new events.
        later = row(screen_of(child, screen, stream, 2), "billing")
        assert later is not None and later[2] != longest

        # The a key: the agents view, longest in state first. A2 handled C3 (180 s) today, unless
        # the day began between its answer and its end; A3 has been away 60 s, past the half-minute
        # limit this test sets, so in red.
        child.send("a")
        lines = screen_of(child, screen, stream, 2)
        (tmp_path / "top-agents.txt").write_text("\n".join(lines))
        print("\n".join(line.rstrip() for line in lines if line.strip()))
        assert any("cxpulse top · agents" in line and "3 agents" in line for line in lines), "\n".join(lines)
        agents = {name: row(lines, name) for name in ("A1", "A2", "A3")}
        assert [cells[1] for cells in agents.values()] == ["available", "busy", "away"]
        order = [n for line in lines for n in agents if (row([line], n) or [None])[0] == n]
        assert order == ["A1", "A2", "A3"]  # 600 s, 190 s and 60 s in state
        handled = int(now - 10 >= day)
        assert agents["A2"][4:6] == ([str(handled), "3m00s"] if handled else ["0", "-"])
        y = next(i for i, line in enumerate(lines) if row([line], "A3"))
        x = lines[y].index("away")
        assert screen.buffer[y][x].fg == "red" and screen.buffer[y][x].bold
        # The s key: ordered by state (away first, then available, wrap-up, busy).
        child.send("s")
        lines = screen_of(child, screen, stream, 2)
        order = [n for line in lines for n in agents if (row([line], n) or [None])[0] == n]
        assert order == ["A3", "A1", "A2"], "\n".join(lines)
        assert any("state ▼" in line for line in lines)
    finally:
        child.sendintr()
        child.expect(pexpect.EOF, timeout=10)
        child.close()
    assert child.exitstatus == 0, child.before
