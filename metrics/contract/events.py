"""The event contract: what producers write to the ``tickets``, ``calls``, ``surveys``, ``customers``
and ``agents`` topics.

These models are the single source of truth for the contract: the JSON Schema files
shipped in ``metrics/contract/schemas`` are generated from them (``cxpulse schemas``), and
validation parses raw Kafka values straight into them. They import nothing from
Faust or Kafka so the KPI core can use them anywhere. New event families (surveys,
customer lifecycle) are new unions here, not changes to the existing ones.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from metrics.documents import JsonView

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Queue and channel become Prometheus label values: at most 100 characters, none of them a
# control character (newlines, tabs, escapes), which would break dashboards, legends and logs.
Label = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
Author = Literal["agent", "customer", "bot"]


class _Seconds:
    """``occurred_at`` in Unix seconds, worked out on first use and kept in the event.

    Validation, the engine and both drivers all need it, and converting an aware datetime costs
    more than most of a step's rules. (``functools.cached_property`` takes a lock per first use.)
    """

    def __get__(self, event: Any, owner: Any = None) -> Any:
        if event is None:
            return self
        at = event.__dict__["at"] = event.occurred_at.timestamp()
        return at


class Event(BaseModel):
    """Fields every event carries, whatever its family."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: Id = Field(description="Unique id of this event; replays and retries reuse it.")
    occurred_at: AwareDatetime = Field(
        description="Event time, RFC 3339 with an offset (Z or +hh:mm). KPIs are windowed by it."
    )

    at: ClassVar[_Seconds] = _Seconds()


class ContactEvent(Event):
    """An event of a customer contact (ticket, call, survey): it belongs to a queue and channel."""

    queue: Label = Field(description="Queue (team, skill) the contact belongs to.")
    channel: Label = Field(description="Contact channel: phone, email, chat, social, web, ...")
    agent_id: Id | None = Field(None, description="Agent involved, if any. Never used as a metric label.")
    customer_id: Id | None = Field(None, description="Customer involved, if known. Never used as a label.")


class TicketEvent(ContactEvent):
    ticket_id: Id = Field(description="Ticket id; also the Kafka message key.")
    priority: Name | None = Field(
        None,
        description="The ticket's priority, if the help desk sets one (e.g. urgent, high, normal, low): "
        "the latest one known when the first agent reply comes picks the first-response target. "
        "Counted apart only if CXPULSE_TICKET_PRIORITIES names it (else as other).",
    )


class TicketCreated(TicketEvent):
    type: Literal["ticket.created"]
    author: Author = Field("customer", description="Who opened the ticket.")
    tags: list[Name] = Field(
        default_factory=list, max_length=50, description='Ticket tags; "complaint" marks a complaint.'
    )


class TicketReplied(TicketEvent):
    type: Literal["ticket.replied"]
    author: Author = Field(description="Only agent replies count toward first response time.")


class TicketEscalated(TicketEvent):
    type: Literal["ticket.escalated"]


class TicketResolved(TicketEvent):
    type: Literal["ticket.resolved"]


class TicketReopened(TicketEvent):
    type: Literal["ticket.reopened"]


class TicketPriorityChanged(TicketEvent):
    """The ticket's priority changed (help desks that report it apart from other changes)."""

    type: Literal["ticket.priority_changed"]
    priority: Name = Field(description="The ticket's priority from now on.")


class CallEvent(ContactEvent):
    call_id: Id = Field(description="Call id; also the Kafka message key.")


class CallQueued(CallEvent):
    type: Literal["call.queued"]


class CallAnswered(CallEvent):
    type: Literal["call.answered"]


class CallAbandoned(CallEvent):
    type: Literal["call.abandoned"]


class CallEnded(CallEvent):
    type: Literal["call.ended"]


class CallTransferred(CallEvent):
    """An agent transferred the call on (to another queue, agent or number); each transfer counts."""

    type: Literal["call.transferred"]
    transfer: Literal["blind", "consult"] = Field(
        "blind",
        description="blind: sent on without the agent speaking to the receiving party first; consult: "
        "after speaking to them (attended, warm).",
    )


class CallHeld(CallEvent):
    """The agent put the caller on hold."""

    type: Literal["call.held"]


class CallResumed(CallEvent):
    """The caller came back from hold (a hold still running when the call ends ends with it)."""

    type: Literal["call.resumed"]


class CallCallbackRequested(CallEvent):
    """The waiting caller took a callback offer: out of the queue, neither answered nor abandoned."""

    type: Literal["call.callback_requested"]


class CallCallbackHandled(CallEvent):
    """The callback a caller asked for reached them, with an agent."""

    type: Literal["call.callback_handled"]


class SurveySubmitted(ContactEvent):
    """A survey answer about one ticket or call; exactly one of ticket_id and call_id is set."""

    type: Literal["survey.submitted"]
    survey: Literal["csat", "nps", "ces"] = Field(
        description="csat: 1-5, nps: 0-10, ces: configurable scale."
    )
    score: float = Field(description="The answer; its range depends on the survey (checked on arrival).")
    ticket_id: Id | None = Field(None, description="The ticket rated; the Kafka key when set.")
    call_id: Id | None = Field(None, description="The call rated; the Kafka key when set.")

    @model_validator(mode="after")
    def _one_subject(self) -> SurveySubmitted:
        if (self.ticket_id is None) == (self.call_id is None):
            raise ValueError("exactly one of ticket_id and call_id must be set")
        return self

    @property
    def subject_id(self) -> str:
        return self.ticket_id or self.call_id or ""


class CustomerEvent(Event):
    """A customer lifecycle event; not tied to a queue or channel."""

    customer_id: Id = Field(description="Customer id; also the Kafka key.")


class CustomerJoined(CustomerEvent):
    type: Literal["customer.joined"]


class CustomerChurned(CustomerEvent):
    type: Literal["customer.churned"]


class CustomerPurchased(CustomerEvent):
    type: Literal["customer.purchased"]


AgentState = Literal["available", "busy", "wrap_up", "away", "offline"]


class AgentEvent(Event):
    """An agent's event; tied to the queues the agent serves, never to one contact."""

    agent_id: Id = Field(description="Agent id; also the Kafka key. Never used as a metric label.")


class AgentStateChanged(AgentEvent):
    type: Literal["agent.state_changed"]
    state: AgentState = Field(
        description="available: ready for a contact; busy: on a contact; wrap_up: after-contact work; "
        "away: logged in but not taking contacts (break, training); offline: logged out."
    )
    queues: list[Label] = Field(
        default_factory=list, max_length=50, description="Queues the agent serves in this state."
    )
    channel: Label = Field("phone", description="Channel the agent serves in these queues.")


class AgentOfferMissed(AgentEvent):
    """A contact rang the agent, who did not take it: the offer timed out or was rejected (Twilio
    reservation timeout or rejection, Asterisk RINGNOANSWER, FreeSWITCH bridge-agent-fail)."""

    type: Literal["agent.offer_missed"]
    queue: Label = Field(description="Queue of the contact offered.")
    channel: Label = Field("phone", description="Channel of the contact offered.")
    call_id: Id | None = Field(None, description="The call offered, if known. Never used as a label.")
    reason: Literal["timeout", "rejected"] = Field(
        "timeout", description="timeout: it rang out unanswered; rejected: the agent declined it."
    )


AnyTicketEvent = Annotated[
    TicketCreated | TicketReplied | TicketEscalated | TicketResolved | TicketReopened | TicketPriorityChanged,
    Field(discriminator="type"),
]
AnyCallEvent = Annotated[
    CallQueued
    | CallAnswered
    | CallAbandoned
    | CallEnded
    | CallTransferred
    | CallHeld
    | CallResumed
    | CallCallbackRequested
    | CallCallbackHandled,
    Field(discriminator="type"),
]


AnySurveyEvent = Annotated[SurveySubmitted, Field(discriminator="type")]
AnyAgentEvent = Annotated[AgentStateChanged | AgentOfferMissed, Field(discriminator="type")]
AnyCustomerEvent = Annotated[
    CustomerJoined | CustomerChurned | CustomerPurchased,
    Field(discriminator="type"),
]


class Family:
    """One topic's worth of events: how to parse them and which field identifies the entity."""

    def __init__(self, name: str, adapter: TypeAdapter, entity_field: str, title: str) -> None:
        self.name = name
        self.adapter = adapter
        self.entity_field = entity_field
        self.title = title
        self.types: frozenset[str] = frozenset(self._types())

    def _types(self) -> list[str]:
        schema = self.adapter.json_schema()
        if "discriminator" in schema:
            return sorted(schema["discriminator"]["mapping"])
        return sorted(p["properties"]["type"]["const"] for p in [schema])

    def json_schema(self) -> dict:
        schema = self.adapter.json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = self.title
        return schema


TICKETS = Family("tickets", TypeAdapter(AnyTicketEvent), "ticket_id", "cxpulse ticket event")
CALLS = Family("calls", TypeAdapter(AnyCallEvent), "call_id", "cxpulse call event")
SURVEYS = Family("surveys", TypeAdapter(AnySurveyEvent), "subject_id", "cxpulse survey event")
CUSTOMERS = Family(
    "customers", TypeAdapter(AnyCustomerEvent), "customer_id", "cxpulse customer lifecycle event"
)

AGENTS = Family("agents", TypeAdapter(AnyAgentEvent), "agent_id", "cxpulse agent state event")

FAMILIES: dict[str, Family] = {f.name: f for f in (TICKETS, CALLS, SURVEYS, CUSTOMERS, AGENTS)}

_FAMILY_BY_PREFIX = {
    "ticket": TICKETS,
    "call": CALLS,
    "survey": SURVEYS,
    "customer": CUSTOMERS,
    "agent": AGENTS,
}


def family_of(doc: JsonView) -> Family | None:
    """The family of an event document, from the prefix of its ``type``; None if it names none."""
    return _FAMILY_BY_PREFIX.get(str(doc.get("type", "")).split(".", 1)[0])


def entity_key(doc: JsonView, family: Family) -> str | None:
    """The Kafka key an event of ``family`` is written under: its entity id (a survey's subject)."""
    fields = ("ticket_id", "call_id") if family is SURVEYS else (family.entity_field,)
    entity = next((doc[f] for f in fields if doc.get(f)), None)
    return entity if isinstance(entity, str) else None
