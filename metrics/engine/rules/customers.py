"""Customer KPIs: repeat contacts and conversions (per customer, across queues), joins and churn.

Results do not depend on arrival order: a contact or purchase that arrives late is matched with
those already remembered, within a bounded memory per customer.
"""

from __future__ import annotations

from typing import Any

from metrics.contract.events import (
    CustomerChurned,
    CustomerEvent,
    CustomerJoined,
    CustomerPurchased,
)
from metrics.documents import JsonObject
from metrics.engine.rules.facts import new_fact
from metrics.model import LifecycleFacts, Output, QueueFacts, State
from metrics.policy import SECONDS_PER_DAY, Policy


def _new_customer() -> State:
    # contacts: [at, queue, channel, repeat, converted, clock]; purchases: [at, clock].
    return {"joined": False, "churned": False, "contacts": [], "purchases": []}


# Contacts and purchases are remembered for this many horizons back from the newest one, so
# one that arrives late (another partition lagging, a replay) still finds its neighbours;
# and at most this many of each per customer.


# Contacts and purchases are remembered for this many horizons back from the newest one, so
# one that arrives late (another partition lagging, a replay) still finds its neighbours;
# and at most this many of each per customer.
MEMORY_HORIZONS = 4


CUSTOMER_MEMORY = 64


def _prune(items: list[Any], newest: float, horizon: float, at: Any) -> None:
    items[:] = [x for x in items if at(x) >= newest - MEMORY_HORIZONS * horizon][-CUSTOMER_MEMORY:]


def customer_step(
    state: State | None, event: CustomerEvent, policy: Policy, clock: str | None = None
) -> tuple[State, list[Output]]:
    """Lifecycle events: joins and churns feed retention; a purchase converts the contacts before it.

    ``clock`` names the partition the event came from: a conversion is timed by the
    purchase, so the aggregation judges its lateness against that partition's progress.
    """
    if state is None:
        state = _new_customer()
    at = event.at
    if isinstance(event, CustomerJoined):
        if not state["joined"]:
            state["joined"] = True
            return state, [LifecycleFacts([new_fact(at, {"customers_joined": 1})])]
    elif isinstance(event, CustomerChurned):
        if not state["churned"]:
            state["churned"] = True
            return state, [LifecycleFacts([new_fact(at, {"customers_churned": 1})])]
    elif isinstance(event, CustomerPurchased):
        horizon = policy.conversion_days * SECONDS_PER_DAY
        outputs = []
        extra = {"clock": clock} if clock else {}
        for contact in state["contacts"]:
            if not contact[4] and contact[0] <= at <= contact[0] + horizon:
                contact[4] = True
                outputs.append(
                    QueueFacts(contact[1], contact[2], [new_fact(at, {"conversions": 1}, **extra)])
                )
        purchases = state["purchases"]
        purchases.append([at, clock])
        _prune(purchases, max(p[0] for p in purchases), horizon, lambda p: p[0])
        return state, outputs
    return state, []


def contact_step(state: State | None, contact: JsonObject, policy: Policy) -> tuple[State, list[Output]]:
    """A ticket or call from this customer.

    A contact is a *repeat* when the same customer had another contact in the
    ``repeat_contact_days`` before it, and *converted* when a purchase follows it within
    ``conversion_days``. Both are judged on event time, so a contact that arrives late
    can still mark a later one as a repeat: the result does not depend on arrival order.
    Each fact names as its ``clock`` the partition its time comes from (the ticket's or
    call's, the purchase's), so the aggregation judges lateness against that partition.
    """
    if state is None:
        state = _new_customer()
    at, queue, channel, clock = contact["at"], contact["queue"], contact["channel"], contact.get("clock")
    repeat_horizon = policy.repeat_contact_days * SECONDS_PER_DAY
    conversion_horizon = policy.conversion_days * SECONDS_PER_DAY
    counts = {"contacts": 1}
    outputs: list[Output] = []
    contacts = state["contacts"]
    # One pass over the customer's remembered contacts: is this one a repeat, and does it make
    # a later one (that arrived first) a repeat?
    newest, earliest_kept = at, at
    for c in contacts:
        when = c[0]
        if when < at:
            if when >= at - repeat_horizon:
                counts["repeat_contacts"] = 1
        elif when > at and not c[3] and when <= at + repeat_horizon:
            c[3] = True
            outputs.append(QueueFacts(c[1], c[2], [new_fact(when, {"repeat_contacts": 1}, **_clock(c[5]))]))
        if when > newest:
            newest = when
        if when < earliest_kept:
            earliest_kept = when
    facts = [new_fact(at, counts, **_clock(clock))]
    later = [p for p in state["purchases"] if at <= p[0] <= at + conversion_horizon]
    if later:
        first = min(later)
        facts.append(new_fact(first[0], {"conversions": 1}, **_clock(first[1])))
    contacts.append([at, queue, channel, "repeat_contacts" in counts, bool(later), clock])
    memory = MEMORY_HORIZONS * max(repeat_horizon, conversion_horizon)
    if len(contacts) > CUSTOMER_MEMORY or earliest_kept < newest - memory:
        _prune(contacts, newest, max(repeat_horizon, conversion_horizon), lambda c: c[0])
    outputs.insert(0, QueueFacts(queue, channel, facts))
    return state, outputs


def _clock(clock: str | None) -> dict[str, str]:
    return {"clock": clock} if clock else {}
