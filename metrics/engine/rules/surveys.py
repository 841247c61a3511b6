"""Survey KPIs: CSAT, NPS and CES, counted once per rated ticket or call and kind."""

from __future__ import annotations

from metrics.contract.events import (
    SurveySubmitted,
)
from metrics.engine.rules.facts import new_fact
from metrics.model import Output, QueueFacts, State
from metrics.policy import Policy


def survey_step(state: State | None, event: SurveySubmitted, policy: Policy) -> tuple[State, list[Output]]:
    """Count a survey answer, once per rated ticket or call and survey kind (the first answer)."""
    if state is None:
        state = {"answered": []}
    if event.survey in state["answered"]:
        return state, []
    state["answered"].append(event.survey)
    at = event.at
    score = event.score
    if event.survey == "csat":
        fact = new_fact(
            at, {"csat_responses": 1, "csat_satisfied": 1} if score >= 4 else {"csat_responses": 1}
        )
    elif event.survey == "nps":
        kind = "nps_promoters" if score >= 9 else "nps_passives" if score >= 7 else "nps_detractors"
        fact = new_fact(at, {"nps_responses": 1, kind: 1})
    else:
        fact = new_fact(at, {}, {"ces_score": float(score)})
    return state, [QueueFacts(event.queue, event.channel, [fact])]
