"""One pure mapping per platform: vendor payload → contract events (docs/ingest.md has the tables).

Each module has one function, ``events(payload, lookups)``: a list of contract events (empty
when the payload carries no KPI), or :class:`~streams.ingest.adapters.common.Unmappable` with
the reason. No I/O: the gateway and the tests call them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.ingest.adapters import (
    amazon_connect,
    asterisk,
    chatwoot,
    freeswitch,
    genesys,
    intercom,
    twilio_taskrouter,
    zammad,
    zendesk,
)
from streams.ingest.adapters.common import Lookups

Adapter = Callable[[Any, Lookups], list[dict[str, Any]]]

WEBHOOKS: dict[str, Adapter] = {
    "zendesk": zendesk.events,
    "twilio-taskrouter": twilio_taskrouter.events,
    "amazon-connect": amazon_connect.events,
    "genesys": genesys.events,
    "chatwoot": chatwoot.events,
    "zammad": zammad.events,
    "freeswitch": freeswitch.events,
    "intercom": intercom.events,
}
QUEUE_LOG: Adapter = asterisk.events
