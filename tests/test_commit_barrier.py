"""The commit rules cxpulse adds to Faust's consumer, on a consumer that is never started."""

from __future__ import annotations

from collections.abc import Iterator

import faust
import pytest
from faust.types import TP

from streams.delivery import commit_barrier
from streams.delivery.confirmed_commits import ConfirmedCommits

TICKETS_0 = TP("tickets", 0)


@pytest.fixture
def consumer() -> Iterator:
    commit_barrier.install()
    app = faust.App("cxpulse-commit-rules", broker="kafka://127.0.0.1:1")
    yield app.consumer


def ack(consumer, tp: TP, *offsets: int) -> None:
    for offset in offsets:
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)


def test_a_run_that_starts_at_the_committed_offset_commits_as_before(consumer):
    consumer._committed_offset[TICKETS_0] = 10
    ack(consumer, TICKETS_0, 10, 11, 12, 14)
    assert consumer._new_offset(TICKETS_0) == 13


def test_offsets_acknowledged_twice_do_not_hold_the_commit_back(consumer):
    consumer._committed_offset[TICKETS_0] = 407
    ack(consumer, TICKETS_0, *range(405, 420))
    consumer._acked[TICKETS_0].extend(range(407, 420))  # a gap mark over offsets also acknowledged
    assert consumer._new_offset(TICKETS_0) == 420


def test_only_commits_kafka_accepted_are_confirmed():
    commits: list[dict] = []

    class Tables:  # the one method of Faust's table manager that a commit calls
        def on_commit(self, offsets: dict) -> None:
            commits.append(dict(offsets))

    tables = Tables()
    confirmed = ConfirmedCommits().follow(tables)
    assert confirmed.get(TICKETS_0) is None
    tables.on_commit({TICKETS_0: 40})
    tables.on_commit({TICKETS_0: 30})  # an older commit arriving late never moves it back
    assert confirmed.get(TICKETS_0) == 40
    assert commits == [{TICKETS_0: 40}, {TICKETS_0: 30}]
