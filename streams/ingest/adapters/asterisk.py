"""Asterisk ``queue_log`` lines → call events.

A line is ``time|callid|queue|agent|EVENT|data1|data2|…``. The event id is
``asterisk:<callid>:<EVENT>:<time>``: the line's own identity, so a line sent twice (after a
restart of the follower) is counted once by the worker.
"""

from __future__ import annotations

from typing import Any

from streams.ingest.adapters.common import Lookups, Unmappable, event, moment

STEPS = {
    "ENTERQUEUE": "call.queued",
    "CONNECT": "call.answered",
    "ABANDON": "call.abandoned",
    # The caller pressed a key to leave the queue (voicemail, callback): they stopped waiting.
    "EXITWITHKEY": "call.abandoned",
    "COMPLETEAGENT": "call.ended",
    "COMPLETECALLER": "call.ended",
}
# EXITWITHTIMEOUT (the queue's own timeout sent the caller elsewhere) and EXITEMPTY produce
# no event: the call stays offered and unanswered, which the service level counts, and it is
# not an abandon, which the caller did not choose.


def events(line: str, lookups: Lookups) -> list[dict[str, Any]]:
    fields = line.rstrip("\r\n").split("|")
    if len(fields) < 5:
        raise Unmappable(f"not a queue_log line: {line[:80]!r}")
    stamp, call, queue, agent, kind = fields[:5]
    type_ = STEPS.get(kind)
    if type_ is None or call in ("", "NONE") or queue in ("", "NONE"):
        return []  # agent logins, pauses, queue starts, ...
    return [
        event(
            type_,
            f"asterisk:{call}:{kind}:{stamp}",
            moment(stamp),
            call_id=call,
            queue=lookups.queue("asterisk", queue),
            channel="phone",
            agent_id=None if agent in ("", "NONE") else agent,
        )
    ]
