"""The KPI rules, one module per event family: event + state → outputs.

Pure code over plain dicts (the state is stored as-is in Faust tables and in the replay
path's dictionaries), so it runs the same live, in unit tests and in batch.

A *fact* (:class:`~metrics.model.Fact`) is what an event completes: the event time it is
attributed to (the event that completes the KPI), counter increments and observed values, and
extras the aggregation needs (the agent who did the work; the levels a ticket or call enters or
leaves now — the backlog, a ticket status, the callers waiting). Facts carry no ids into labels.
Levels always go to the queue and channel where the entity entered them (its *home*), so a
count never drifts when a later event names another queue.

A step returns *outputs*, each one of
- :class:`~metrics.model.QueueFacts` (queue, channel, facts) for that queue's aggregate,
- :class:`~metrics.model.LifecycleFacts` (facts) for the customer-base aggregate,
- :class:`~metrics.model.ContactMade` (customer id, ``{"at", "queue", "channel"}``) for the
  customer's own state,
- :class:`~metrics.model.AgentWork` (agent id, ``{"at", "queue", "calls_handled",
  "handle_seconds"}``) for the agent's own figures of the day.

Order rules, chosen so results do not depend on arrival order within an entity:
- an agent reply or a resolution that arrives before its ticket's ``created`` is held;
  it is counted when ``created`` arrives, attributed to its own time;
- an answer that arrives before the call's ``queued`` is counted at once; its wait is
  observed when ``queued`` arrives;
- a duration that comes out negative (clock skew between systems) is clamped to 0.

One module per family: ``tickets``, ``calls``, ``surveys``, ``agents``, ``customers`` (customer
lifecycle events and the contacts the other families report); ``facts`` holds what they build
their outputs with.
"""
