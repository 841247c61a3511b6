"""What the worker serves and watches: /metrics, /agents, /live, /ready, the broker, rebalances."""

from __future__ import annotations

import asyncio
import time

import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from metrics.export.agents_view import agent_rows, agents_document
from metrics.policy import Policy
from streams.live.batched_table import BatchedTable
from streams.live.pipeline import Pipeline

_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]


def install_pages(
    pipeline: Pipeline, servers: list[str], agents: BatchedTable, policy: Policy, names: dict[str, str]
) -> None:
    app, metrics = pipeline.app, pipeline.metrics
    addresses = [s.rsplit(":", 1) for s in servers]

    @app.timer(interval=2.0)
    async def check_broker() -> None:
        """Whether a bootstrap server accepts connections; /metrics shows an outage as it happens."""
        for host, port in addresses:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout=1.0)
            except (OSError, TimeoutError):
                continue
            writer.close()
            pipeline.broker_up = True
            return
        pipeline.broker_up = False

    @app.on_rebalance_complete.connect
    async def count_rebalance(sender: object, **kwargs: object) -> None:
        metrics.rebalances.inc()

    @app.on_partitions_assigned.connect
    async def note_assignment(sender: object, *args: object, **kwargs: object) -> None:
        pipeline.seen_assignment = True

    @app.page("/metrics")
    async def metrics_page(web: View, request: Request) -> Response:
        metrics.broker_up.set(1 if pipeline.broker_up else 0)
        metrics.ready.set(1 if pipeline.health().ready else 0)
        # aiohttp takes the charset separately from the media type.
        return web.bytes(metrics.page(), content_type=_MEDIA_TYPE)

    answered: list[tuple[float, bytes]] = []  # the last answer, shared by requests within a second

    @app.page("/agents")
    async def agents_page(web: View, request: Request) -> Response:
        """Agents one by one (metrics/export/agents_view.py): those of the agent partitions this
        worker owns, so each agent is on exactly one worker; none while partitions move. Built at
        most once a second, however many supervisors watch: it walks every agent on the event
        loop that runs the agents (its cost: docs/performance.md)."""
        now = time.time()
        if answered and now - answered[0][0] < 1.0:
            return web.bytes(answered[0][1], content_type="application/json")
        rows = []
        if not app.rebalancing and not getattr(app, "in_recovery", False):
            owned = agents.owned()
            states = ((agent, state) for agent, state in agents.items() if state.get("_p") in owned)
            rows = agent_rows(states, now, policy, names)
        body = orjson.dumps(agents_document(rows, now))
        answered[:] = [(now, body)]
        return web.bytes(body, content_type="application/json")

    @app.page("/live")
    async def live_page(web: View, request: Request) -> Response:
        """The event loop answers: the process is not wedged."""
        return web.text("live\n")

    @app.page("/ready")
    async def ready_page(web: View, request: Request) -> Response:
        """200 when the worker does its share of the work; 503 with the reason otherwise."""
        health = pipeline.health()
        return web.text(health.reason() + "\n", status=200 if health.ready else 503)
