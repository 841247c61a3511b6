"""FreeSWITCH ``mod_callcenter`` events → call events and agent states.

``mod_callcenter`` reports on the event socket as ``CUSTOM callcenter::info`` events, whose
``CC-Action`` says what happened; posted as JSON (``event json`` on the socket, or an
``mod_event_*`` forwarder), each is one object of the event's headers. A caller is the member's
``CC-Member-UUID``; times are the event's own epoch fields (``CC-Member-Joined-Time``, …, in
seconds), else ``Event-Date-Timestamp`` (microseconds). Event ids are
``freeswitch:<member uuid>:<step>``, so a re-sent event is counted once.

| ``CC-Action`` | contract event |
|---|---|
| ``member-queue-start`` | ``call.queued`` |
| ``bridge-agent-start`` | ``call.answered`` (agent ``CC-Agent``) |
| ``bridge-agent-end`` | ``call.ended`` |
| ``member-queue-end``, ``Cancel`` + ``BREAK_OUT`` | ``call.abandoned``: the caller hung up waiting |
| ``member-queue-end``, ``Cancel`` + ``TIMEOUT`` / ``NO_AGENT_TIMEOUT`` | an exit (timeout / empty queue) |
| ``bridge-agent-fail`` | ``agent.offer_missed`` (``CC-Hangup-Cause`` ``NO_ANSWER``, |
| | ``NO_USER_RESPONSE``, ``ALLOTTED_TIMEOUT``: timeout; ``CALL_REJECTED``, ``USER_BUSY``: |
| | rejected; any other cause, such as the caller hanging up, is not the agent's) |
| ``agent-status-change`` | ``agent.state_changed``: Available → available, On Break → away, |
| | Logged Out → offline |
| ``agent-state-change`` | ``agent.state_changed``: In a queue call → busy, Waiting → available |

An agent's queues come from the ``CC-Queue`` header where it has one, else from the agent
queue lookups (``CXPULSE_INGEST_AGENT_QUEUES``), as mod_callcenter's tiers are not in its
agent events.
"""

from __future__ import annotations

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters.common import Lookups, Platform, Unmappable, event, moment, required

STATUSES = {
    "available": "available",
    "available (on demand)": "available",
    "on break": "away",
    "logged out": "offline",
}
STATES = {"in a queue call": "busy", "waiting": "available", "receiving": "busy"}
EXITS = {"TIMEOUT": "timeout", "NO_AGENT_TIMEOUT": "empty_queue"}
# Why an agent's leg failed to bridge, when that is the agent's doing: a missed offer.
MISSED = {
    "NO_ANSWER": "timeout",
    "NO_USER_RESPONSE": "timeout",
    "ALLOTTED_TIMEOUT": "timeout",
    "CALL_REJECTED": "rejected",
    "USER_BUSY": "rejected",
}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    if payload.get("Event-Subclass") != "callcenter::info":
        raise Unmappable("not a mod_callcenter event: Event-Subclass is not callcenter::info")
    action = str(payload.get("CC-Action", ""))
    if action in ("agent-status-change", "agent-state-change"):
        return _agent(action, payload, lookups)
    if action == "bridge-agent-fail":
        return _missed(payload, lookups)
    if action not in ("member-queue-start", "member-queue-end", "bridge-agent-start", "bridge-agent-end"):
        return []  # agent offers, member counts, ...: no KPI of the contract in them
    member = required(payload, "CC-Member-UUID")
    common = {
        "call_id": member,
        "queue": lookups.queue("freeswitch", _queue(required(payload, "CC-Queue"))),
        "channel": "phone",
    }
    if action == "member-queue-start":
        at = _time(payload, "CC-Member-Joined-Time")
        return [event("call.queued", f"freeswitch:{member}:queued", at, **common)]
    if action == "bridge-agent-start":
        at = _time(payload, "CC-Agent-Answered-Time")
        return [event("call.answered", f"freeswitch:{member}:answered", at,
                      agent_id=payload.get("CC-Agent"), **common)]  # fmt: skip
    if action == "bridge-agent-end":
        at = _time(payload, "CC-Bridge-Terminated-Time")
        return [
            event("call.ended", f"freeswitch:{member}:ended", at, agent_id=payload.get("CC-Agent"), **common)
        ]
    # member-queue-end
    if payload.get("CC-Cause") != "Cancel":
        return []  # Terminated: the call was bridged, and ends with bridge-agent-end
    reason = str(payload.get("CC-Cancel-Reason", ""))
    at = _time(payload, "CC-Member-Leaving-Time")
    if reason == "BREAK_OUT":
        return [event("call.abandoned", f"freeswitch:{member}:abandoned", at, **common)]
    if reason in EXITS:
        type_ = lookups.exit_event(EXITS[reason])
        return [event(type_, f"freeswitch:{member}:{type_.removeprefix('call.')}", at, **common)]
    return []


def _missed(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    reason = MISSED.get(str(payload.get("CC-Hangup-Cause", "")))
    if reason is None:
        return []  # the caller hung up while it rang, the system failed, ...: not the agent
    member, agent = required(payload, "CC-Member-UUID"), required(payload, "CC-Agent")
    at = _time(payload, "CC-Agent-Aborted-Time")
    stamp = payload.get("Event-Date-Timestamp", at)
    return [
        event(
            "agent.offer_missed",
            f"freeswitch:{member}:missed:{agent}:{stamp}",
            at,
            agent_id=agent,
            queue=lookups.queue("freeswitch", _queue(required(payload, "CC-Queue"))),
            channel="phone",
            call_id=member,
            reason=reason,
        )
    ]


def _agent(action: str, payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    agent = required(payload, "CC-Agent")
    if action == "agent-status-change":
        state = STATUSES.get(str(payload.get("CC-Agent-Status", "")).lower())
    else:
        state = STATES.get(str(payload.get("CC-Agent-State", "")).lower())
    if state is None:
        return []
    queue = payload.get("CC-Queue")
    queues = (
        [lookups.queue("freeswitch", _queue(queue))] if queue else list(lookups.agent_queues.get(agent, ()))
    )
    at = _time(payload)
    stamp = payload.get("Event-Date-Timestamp", at)
    return [event("agent.state_changed", f"freeswitch:{agent}:{action}:{stamp}", at,
                  agent_id=agent, state=state, queues=queues, channel="phone")]  # fmt: skip


def _queue(name: str) -> str:
    """``support@default`` → ``support``: the domain part names the FreeSWITCH profile, not the queue."""
    return name.split("@", 1)[0]


def _time(payload: JsonView, field: str | None = None) -> str:
    """The event's own epoch field if it has one, else when FreeSWITCH fired it."""
    value = payload.get(field) if field else None
    if value not in (None, "", "0"):
        return moment(value)
    micros = required(payload, "Event-Date-Timestamp")
    return moment(int(micros) / 1_000_000)


PLATFORM = Platform("freeswitch", events)
