"""How a call that leaves its queue unanswered, without the caller hanging up, counts.

A queue timeout, a key press to leave (to voicemail or a callback), an empty queue, a flow-out or
a transfer out before an answer: the call was offered, and by the convention every adapter
follows it was neither answered nor abandoned (it ends unanswered: ``call.ended`` before any
answer). Some sites count some of them as abandons; that is a setting (``exit_outcomes``), and
docs/ingest.md says what each choice does to the abandonment rate and the service level.
"""

from __future__ import annotations

# Ways a caller leaves a queue unanswered other than by hanging up, and what each counts as
# unless the site says otherwise: offered, neither answered nor abandoned ("exit": the call
# ends unanswered), or an abandon. docs/ingest.md has the effect of each on the rates.
EXIT_KINDS = {
    "key_press": "the caller pressed a key to leave (voicemail, callback): Asterisk EXITWITHKEY",
    "timeout": "the queue's own timeout sent the caller on: Asterisk EXITWITHTIMEOUT, Genesys HOLD_TIMEOUT, "
    "FreeSWITCH TIMEOUT, Twilio workflow.timeout",
    "empty_queue": "no agent could take calls, the caller was sent on: Asterisk EXITEMPTY, FreeSWITCH "
    "NO_AGENT_TIMEOUT",
    "flow_out": "the flow took the caller out of the queue: Genesys FLOW_OUT",
    "transfer_out": "transferred out of the queue before an answer: Genesys TRANSFER",
}
EXIT_OUTCOMES = ("exit", "abandon")
EXIT_EVENT = {"exit": "call.ended", "abandon": "call.abandoned"}
