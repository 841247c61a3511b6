"""One pure mapping per platform: vendor payload → contract events (docs/ingest.md has the tables).

Each module has one function, ``events(payload, lookups)``: a list of contract events (empty
when the payload carries no KPI), or :class:`~streams.ingest.adapters.common.Unmappable` with
the reason. No I/O: the gateway and the tests call them alike.
"""

from __future__ import annotations

from collections.abc import Callable

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters import (
    amazon_connect,
    asterisk,
    chatwoot,
    freeswitch,
    freshdesk,
    genesys,
    intercom,
    twilio_taskrouter,
    zammad,
    zendesk,
)
from streams.ingest.adapters.common import Lookups, Platform

Adapter = Callable[[JsonView, Lookups], list[JsonObject]]

# Every webhook platform, by its route: one module each (docs/ingest.md, "Adding a platform").
PLATFORMS: dict[str, Platform] = {
    p.route: p
    for p in (
        zendesk.PLATFORM,
        twilio_taskrouter.PLATFORM,
        amazon_connect.PLATFORM,
        genesys.PLATFORM,
        chatwoot.PLATFORM,
        zammad.PLATFORM,
        freeswitch.PLATFORM,
        intercom.PLATFORM,
        freshdesk.PLATFORM,
    )
}
WEBHOOKS: dict[str, Adapter] = {route: p.events for route, p in PLATFORMS.items()}
QUEUE_LOG: Callable[[str, Lookups], list[JsonObject]] = asterisk.events
