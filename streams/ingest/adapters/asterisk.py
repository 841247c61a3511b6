"""Asterisk ``queue_log`` lines → call events and agent states.

A line is ``time|callid|queue|agent|EVENT|data1|data2|…``. The event id is
``asterisk:<callid>:<EVENT>:<time>``: the line's own identity, so a line sent twice (after a
restart of the follower) is counted once by the worker.

Queue members' lines are agent states, one agent per member and queue (``<member>@<queue>``),
as Asterisk logs a member's pauses and calls per queue: ``ADDMEMBER`` and ``UNPAUSE`` make it
available, ``PAUSE`` away, ``REMOVEMEMBER`` offline, ``CONNECT`` busy and ``COMPLETEAGENT`` /
``COMPLETECALLER`` available again (Asterisk logs no wrap-up). Their event ids are
``asterisk:<member>@<queue>:<EVENT>:<time>``.

A transfer (``BLINDTRANSFER``, ``ATTENDEDTRANSFER``: the agent consulted the receiving party
first) is logged instead of the call's ``COMPLETE*`` line: it is ``call.transferred`` and the end
of the queue call (``call.ended``, event id ``…:ended``), and the member is available again.
``RINGNOANSWER`` (the member's phone rang out) is a missed offer (``agent.offer_missed``, event id
``asterisk:<callid>:RINGNOANSWER:<member>@<queue>:<time>``); one with a ring time of 0 is the
device refusing at once (busy, unreachable), not the agent, and is left out.
"""

from __future__ import annotations

from metrics.documents import JsonObject
from streams.ingest.adapters.common import Lookups, Unmappable, event, moment

STEPS = {
    "ENTERQUEUE": "call.queued",
    "CONNECT": "call.answered",
    "ABANDON": "call.abandoned",
    "COMPLETEAGENT": "call.ended",
    "COMPLETECALLER": "call.ended",
}
MEMBER_STATES = {
    "ADDMEMBER": "available",
    "UNPAUSE": "available",
    "PAUSE": "away",
    "REMOVEMEMBER": "offline",
    "CONNECT": "busy",
    "COMPLETEAGENT": "available",
    "COMPLETECALLER": "available",
    "BLINDTRANSFER": "available",
    "ATTENDEDTRANSFER": "available",
}
TRANSFERS = {"BLINDTRANSFER": "blind", "ATTENDEDTRANSFER": "consult"}
# Leaving the queue without hanging up: an exit (offered, neither answered nor abandoned)
# unless the site counts that kind as an abandon (metrics.contract.exits).
EXITS = {"EXITWITHKEY": "key_press", "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "empty_queue"}


def events(line: str, lookups: Lookups) -> list[JsonObject]:
    fields = line.rstrip("\r\n").split("|")
    if len(fields) < 5:
        raise Unmappable(f"not a queue_log line: {line[:80]!r}")
    stamp, call, queue, agent, kind = fields[:5]
    if queue in ("", "NONE"):
        return []  # queue starts and reloads, pauses of all queues at once, ...
    label = lookups.queue("asterisk", queue)
    out = []
    type_ = STEPS.get(kind) or (lookups.exit_event(EXITS[kind]) if kind in EXITS else None)
    if call not in ("", "NONE"):
        common = {
            "call_id": call,
            "queue": label,
            "channel": "phone",
            "agent_id": None if agent in ("", "NONE") else agent,
        }
        event_id, at = f"asterisk:{call}:{kind}:{stamp}", moment(stamp)
        if type_ is not None:
            out.append(event(type_, event_id, at, **common))
        elif kind in TRANSFERS:
            out.append(event("call.transferred", event_id, at, transfer=TRANSFERS[kind], **common))
            out.append(event("call.ended", f"{event_id}:ended", at, **common))
    if kind == "RINGNOANSWER" and agent not in ("", "NONE") and call not in ("", "NONE"):
        ring = fields[5] if len(fields) > 5 else ""
        if ring not in ("", "0"):
            member = f"{agent}@{queue}"
            out.append(
                event(
                    "agent.offer_missed",
                    f"asterisk:{call}:{kind}:{member}:{stamp}",
                    moment(stamp),
                    agent_id=member,
                    queue=label,
                    channel="phone",
                    call_id=call,
                    reason="timeout",
                )
            )
    state = MEMBER_STATES.get(kind)
    if state is not None and agent not in ("", "NONE"):
        member = f"{agent}@{queue}"
        out.append(
            event(
                "agent.state_changed",
                f"asterisk:{member}:{kind}:{stamp}",
                moment(stamp),
                agent_id=member,
                state=state,
                queues=[label],
                channel="phone",
            )
        )
    return out
