"""The commit rules cxpulse adds to Faust's consumer, on a consumer that is never started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import faust
import pytest
from faust.types import TP

from streams import commit_barrier
from streams.confirmed_commits import ConfirmedCommits

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


def test_a_commit_never_steps_over_the_record_at_the_committed_offset(consumer):
    """Record 71 was dropped during a rebalance; 72..95 were processed."""
    consumer._committed_offset[TICKETS_0] = 71
    ack(consumer, TICKETS_0, *range(72, 96))
    assert consumer._new_offset(TICKETS_0) is None
    ack(consumer, TICKETS_0, 71)  # read again after the rebalance's seek
    assert consumer._new_offset(TICKETS_0) == 96


def test_a_record_that_never_comes_is_read_again_then_passed(consumer, monkeypatch):
    """No rebalance follows to seek back to 71: the partition is read again from there, and
    when even that does not bring record 71, Kafka has none at 71 and the commit passes it."""
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "seek", seek)
    consumer._committed_offset[TICKETS_0] = 71
    ack(consumer, TICKETS_0, *range(72, 80))
    later = time.monotonic() + commit_barrier.REREAD_AFTER_SECONDS + 1

    async def commits() -> list:
        got: list = [consumer._new_offset(TICKETS_0), commit_barrier.reread_stuck(consumer)]
        got.append(commit_barrier.reread_stuck(consumer, later))  # read again from 71
        await asyncio.sleep(0)
        got.append(consumer._new_offset(TICKETS_0))
        got.append(commit_barrier.reread_stuck(consumer, later + commit_barrier.REREAD_AFTER_SECONDS + 1))
        await asyncio.sleep(0)
        got.append(consumer._new_offset(TICKETS_0))
        return got

    assert asyncio.run(commits()) == [None, 0, 1, None, 1, 80]
    assert seeks == [(TICKETS_0, 71), (TICKETS_0, 71)]


class Record:
    def __init__(self, offset: int, tp: TP = TICKETS_0) -> None:
        self.tp, self.offset, self.acked = tp, offset, False


def test_records_are_taken_in_offset_order_only(consumer):
    consumer._committed_offset[TICKETS_0] = 10
    gate = commit_barrier.InOrder(consumer)
    taken = [r.offset for r in map(Record, [10, 11, 13, 14]) if gate.admit(r)]
    assert taken == [10, 11]  # 12 was set aside: 13 and 14 wait for it
    refused = Record(15)
    assert not gate.admit(refused) and refused.acked  # Faust will not count it as done
    assert consumer.__dict__["_cxpulse_stuck"][TICKETS_0][0] == 10
    # The partition is read again from the commit, then in order.
    assert [r.offset for r in map(Record, [10, 11, 12, 13]) if gate.admit(r)] == [10, 11, 12, 13]


def test_a_partition_new_here_starts_at_its_commit(consumer):
    consumer._committed_offset[TICKETS_0] = 62
    gate = commit_barrier.InOrder(consumer)
    assert not gate.admit(Record(63))  # 62 was set aside before this worker saw the partition
    assert gate.admit(Record(62)) and gate.admit(Record(63))


def test_a_jump_over_offsets_that_hold_no_message_is_taken(consumer):
    consumer._committed_offset[TICKETS_0] = 10
    gate = commit_barrier.InOrder(consumer)
    assert gate.admit(Record(10))
    asyncio.run(consumer._add_gap(TICKETS_0, 11, 13))  # Faust saw the fetch jump from 10 to 13
    assert gate.admit(Record(13))


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
