"""Validation gives every bad record a fixed reason and never raises."""

from __future__ import annotations

import orjson
import pytest
from helpers import event
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.contract.events import CALLS, TICKETS, TicketReplied
from metrics.contract.validation import REASONS, Limits, Rejection, validate

GOOD = event("ticket.replied", "T1", 1_700_000_000, author="agent")


LIMITS = Limits(max_bytes=4096)
NOW = 1_700_000_100.0


def check(value: bytes | None, key: bytes | None = b"T1", family=TICKETS):
    return validate(value, key, family, LIMITS, now=NOW)


def test_good_event_parses_to_its_model():
    ev = check(orjson.dumps(GOOD))
    assert isinstance(ev, TicketReplied)
    assert ev.author == "agent" and ev.occurred_at.timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"", b"T1", "empty"),
        (None, b"T1", "empty"),
        (b"x" * 5000, b"T1", "oversized"),
        (b"{oops", b"T1", "malformed_json"),
        (b"\xff\xfe{}", b"T1", "bad_encoding"),
        (b"[1, 2]", b"T1", "not_an_object"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "type"}), b"T1", "missing_type"),
        (orjson.dumps({**GOOD, "type": "ticket.merged"}), b"T1", "unknown_type"),
        (orjson.dumps({**GOOD, "type": "call.queued"}), b"T1", "unknown_type"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "queue"}), b"T1", "missing_field"),
        (orjson.dumps({**GOOD, "occurred_at": "2026-11-24T10:00:00"}), b"T1", "timestamp_without_offset"),
        (orjson.dumps({**GOOD, "occurred_at": "yesterday"}), b"T1", "bad_timestamp"),
        (orjson.dumps({**GOOD, "queue": 7}), b"T1", "wrong_type"),
        (orjson.dumps({**GOOD, "author": "robot"}), b"T1", "invalid_value"),
        (orjson.dumps({**GOOD, "event_id": ""}), b"T1", "invalid_value"),
        (orjson.dumps(GOOD), b"T2", "key_mismatch"),
        (orjson.dumps(GOOD), None, "key_mismatch"),
        (orjson.dumps({**GOOD, "occurred_at": "2999-01-01T00:00:00Z"}), b"T1", "timestamp_in_future"),
        (orjson.dumps({**GOOD, "occurred_at": "2001-01-01T00:00:00+02:00"}), b"T1", "timestamp_too_old"),
    ],
)
def test_rejections_have_fixed_reasons(value, key, reason):
    result = check(value, key)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail


def test_extra_fields_are_ignored_for_forward_compatibility():
    assert isinstance(check(orjson.dumps({**GOOD, "priority": "high"})), TicketReplied)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(raw):
    result = validate(raw, b"T1", CALLS, LIMITS, now=NOW)
    assert isinstance(result, Rejection) and result.reason in REASONS


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(GOOD)),
        st.one_of(
            st.none(),
            st.integers(-(2**40), 2**40),
            st.text(max_size=30),
            st.booleans(),
            st.lists(st.integers(-(2**40), 2**40), max_size=2),
        ),
        max_size=4,
    )
)
def test_near_valid_events_never_raise(changes):
    result = check(orjson.dumps({**GOOD, **changes}))
    if isinstance(result, Rejection):
        assert result.reason in REASONS


def test_rejections_are_logged_once_per_reason_per_interval(caplog):
    from streams.live.dead_letters import RejectionLog

    log = RejectionLog(interval=60)
    results = [log("tickets", "malformed_json", "bad", f"tickets:0:{i}", "dlq") for i in range(5)]
    results.append(log("tickets", "unknown_type", "x", "tickets:0:9", "dlq"))
    assert results == [True, False, False, False, False, True]
    log.interval = 0
    assert log("tickets", "malformed_json", "bad", "tickets:0:10", "dlq")
    assert "4 more for this reason" in caplog.records[-1].getMessage()
