"""What building ``/agents`` costs a worker: the agents of a simulated floor, their states as the
live table keeps them (JSON text), decoded and turned into the page, timed.

    .venv/bin/python bench/agents_page.py                 # 100 000 events of simulated traffic
    .venv/bin/python bench/agents_page.py --events 300000

The states come from the replay engine over the simulator's traffic (the same rules the live
worker runs), so each agent holds what a real one would: its ledger, its last hour of spells and
its day. The page is built on the worker's event loop, at most once a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.export.agents_view import agent_rows, agents_document  # noqa: E402
from streams.replay.driver import Replay, record_from_line, run  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.simulator.traffic import Traffic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=100_000, help="simulated events to build the floor from"
    )
    parser.add_argument("--repeat", type=int, default=20, help="pages built, for the median")
    args = parser.parse_args()
    start = time.time() - args.events / (4.5 * 5.0) - 600
    lines = [orjson.dumps(event) for _, _, event in Traffic(start=start, rate=5.0, seed=42).take(args.events)]
    engine = Replay(Settings())
    engine.keep_rejections = False
    run(engine, (record_from_line(line, "file:0", i) for i, line in enumerate(lines)), 60.0, lambda at: None)
    stored = {agent: orjson.dumps(state) for agent, state in engine.tables["agents"].items()}
    now = engine.clock or time.time()
    policy = engine.policy
    timings, body = [], b""
    for _ in range(args.repeat):
        began = time.perf_counter()
        rows = agent_rows(((a, orjson.loads(s)) for a, s in stored.items()), now, policy, {})
        body = orjson.dumps(agents_document(rows, now))
        timings.append(time.perf_counter() - began)
    sizes = [len(s) for s in stored.values()]
    spells = [len(orjson.loads(s).get("recent", ())) for s in stored.values()]
    median = statistics.median(timings)
    print(f"{len(stored):,} agents from {args.events:,} events; {len(rows):,} listed")
    print(f"agent state: {statistics.mean(sizes):,.0f} bytes on average, {max(sizes):,} at most; "
          f"{statistics.mean(spells):.1f} spells of the last hour on average")  # fmt: skip
    print(f"/agents: {median * 1000:.1f} ms to build (median of {args.repeat}), "
          f"{median / max(1, len(stored)) * 1e6:.1f} µs per agent, {len(body):,} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
