"""Which records an agent may take, and which partitions it reads again (no broker needed)."""

from __future__ import annotations

from streams.delivery.in_order import QUIET_SECONDS, RESEEK_AFTER_SECONDS, InOrder, send_back


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_records_in_offset_order_are_taken_and_a_jump_is_refused_until_the_gap_is_read():
    order = InOrder()
    order.start_at({"calls:0": 70})
    assert [order.admit("calls:0", o) for o in (70, 71)] == [True, True]
    # 72 was set aside during a rebalance; 73 and 74 must wait for it.
    assert order.admit("calls:0", 73) is False
    assert order.admit("calls:0", 74) is False
    assert order.due() == {"calls:0": 72}
    assert [order.admit("calls:0", o) for o in (72, 73, 74)] == [True, True, True]
    assert order.due() == {}
    assert order.refused == 2


def test_records_before_the_expected_one_are_replays_and_pass_without_moving_it():
    order = InOrder()
    order.start_at({"tickets:1": 10})
    assert all(order.admit("tickets:1", o) for o in (10, 11, 12))
    assert order.admit("tickets:1", 5) is True  # read again after a seek back: the receivers drop it
    assert order.admit("tickets:1", 14) is False  # 13 is still owed


def test_a_partition_the_worker_never_sought_takes_its_first_record_as_it_comes():
    order = InOrder()
    assert order.admit("surveys:3", 40) is True
    assert order.admit("surveys:3", 42) is False
    assert order.due() == {"surveys:3": 41}


def test_a_rebalance_seek_restarts_every_partition_and_drops_those_that_left():
    order = InOrder()
    order.start_at({"calls:0": 5, "calls:1": 9})
    assert order.admit("calls:1", 12) is False
    order.start_at({"calls:0": 3})  # calls:1 moved to another worker
    assert order.due() == {}
    assert order.admit("calls:0", 3) is True
    # Fetched before calls:1 moved: its new owner reads it again, this worker must not.
    assert order.admit("calls:1", 10) is False
    assert order.strangers() == {"calls:1"}
    order.start_at({"calls:0": 4, "calls:1": 30})  # back after another rebalance
    assert order.strangers() == set()
    assert order.admit("calls:1", 30) is True


def test_a_partition_sent_back_without_progress_is_sent_back_again_after_a_while():
    clock = Clock()
    order = InOrder(clock)
    order.start_at({"facts:2": 100})
    assert order.admit("facts:2", 105) is False
    assert order.due() == {"facts:2": 100}
    assert order.admit("facts:2", 106) is False  # fetched before the seek
    assert order.due() == {}
    clock.now += RESEEK_AFTER_SECONDS
    assert order.due() == {"facts:2": 100}


def test_a_partition_that_gets_nothing_for_a_while_is_named_quiet_until_read_again_once():
    clock = Clock()
    order = InOrder(clock)
    order.start_at({"customers:2": 10, "calls:1": 50})
    assert order.quiet() == {}  # first look: progress marks taken
    clock.now += QUIET_SECONDS - 1
    assert order.admit("calls:1", 50) is True
    assert order.quiet() == {}
    clock.now += 1
    assert order.quiet() == {"customers:2": 10}  # calls:1 moved on a second ago
    order.resent("customers:2", 10)
    assert order.quiet() == {}  # named once per quiet spell
    clock.now += QUIET_SECONDS
    assert order.quiet() == {"calls:1": 51}  # customers:2 is not named again at the same offset
    assert order.admit("customers:2", 10) is True
    assert order.quiet() == {}
    clock.now += QUIET_SECONDS
    assert order.quiet() == {"customers:2": 11, "calls:1": 51}


def test_replays_count_as_progress_and_a_partition_being_read_again_is_not_quiet():
    clock = Clock()
    order = InOrder(clock)
    order.start_at({"agents:3": 339, "tickets:0": 7})
    assert order.admit("tickets:0", 9) is False  # 8 is owed: read again by due()
    order.quiet()
    for offset in range(254, 300):  # a long replay after a seek back
        clock.now += 1
        assert order.admit("agents:3", offset) is True
        assert order.quiet() == {}
    clock.now += QUIET_SECONDS
    assert order.quiet() == {"agents:3": 339}


def test_a_quiet_partition_is_sought_back_only_if_the_consumer_read_past_the_expected_record():
    import asyncio

    class Consumer:
        def __init__(self) -> None:
            self.sought: list = []

        def assignment(self) -> set:
            return {"customers:2", "calls:1", "surveys:0"}

        async def position(self, tp) -> int:
            return {"customers:2": 19, "calls:1": 51, "surveys:0": 4}[tp]

        async def earliest_offsets(self, *tps) -> dict:
            return {tp: 0 for tp in tps}

        async def seek(self, tp, offset: int) -> None:
            self.sought.append((tp, offset))

        async def perform_seek(self) -> None:
            raise AssertionError("not expected")

    clock, consumer = Clock(), Consumer()
    order = InOrder(clock)
    order.start_at({"customers:2": 10, "calls:1": 51, "surveys:0": 4})
    assert asyncio.run(send_back(order, consumer)) == 0
    clock.now += QUIET_SECONDS
    # customers:2: records 10..18 were fetched and dropped; calls:1 and surveys:0 are simply idle.
    assert asyncio.run(send_back(order, consumer)) == 1
    assert consumer.sought == [("customers:2", 10)]
    clock.now += QUIET_SECONDS
    assert asyncio.run(send_back(order, consumer)) == 0


def test_records_deleted_by_retention_are_not_waited_for():
    order = InOrder()
    order.start_at({"tickets:0": 10})
    assert order.admit("tickets:0", 500) is False
    order.skip_to("tickets:0", 480)
    assert order.admit("tickets:0", 480) is True
    assert order.admit("tickets:0", 481) is True
    order.skip_to("tickets:0", 100)  # never moves back
    assert order.admit("tickets:0", 483) is False


def test_nothing_is_taken_while_partitions_move_and_the_partition_is_read_again_after():
    order = InOrder()
    order.start_at({"tickets:2": 40})
    assert order.admit("tickets:2", 40) is True
    assert order.admit("tickets:2", 41, moving=True) is False
    assert order.admit("tickets:9", 7, moving=True) is False  # not this worker's
    assert order.due() == {"tickets:2": 41}
    assert order.strangers() == {"tickets:9"}
    assert order.admit("tickets:2", 41) is True


def test_before_any_position_is_known_nothing_is_taken_while_partitions_move():
    order = InOrder()
    assert order.admit("calls:0", 5, moving=True) is False
    assert order.due() == {}
    assert order.admit("calls:0", 0) is True


def test_seeks_run_on_the_consumer_thread_and_only_for_owned_partitions() -> None:
    import asyncio
    import threading

    from streams.delivery import consumer_thread

    class Client:
        def __init__(self) -> None:
            self.seeks: list = []

        def assignment(self) -> set:
            return {"facts:0"}

        def seek(self, tp, offset: int) -> None:
            self.seeks.append((tp, offset, threading.current_thread().name))

    class Thread:
        def __init__(self) -> None:
            self.client = Client()

        def _ensure_consumer(self) -> Client:
            return self.client

        async def call_thread(self, fun):
            done = []
            worker = threading.Thread(target=lambda: done.append(fun()), name="consumer-thread")
            worker.start()
            worker.join()
            return done[0]

    class Consumer:
        def __init__(self) -> None:
            self._thread = Thread()
            self._read_offset: dict = {}

    consumer = Consumer()
    asyncio.run(consumer_thread.seek(consumer, "facts:0", 42))
    asyncio.run(consumer_thread.seek(consumer, "facts:3", 7))  # moved away meanwhile: left alone
    assert consumer._thread.client.seeks == [("facts:0", 42, "consumer-thread")]
    assert consumer._read_offset == {"facts:0": 42}


def test_a_record_delivered_twice_in_one_batch_is_taken_once():
    """A seek back while records were in flight: 41 and 42 come again right after themselves."""
    from types import SimpleNamespace

    from streams.delivery import Delivery

    order = InOrder()
    order.start_at({"calls:1": 40, "calls:2": 7})
    app = SimpleNamespace(rebalancing=False, consumer=SimpleNamespace(_unacked_messages=set()))
    delivery = Delivery(app, order, None, lambda topic: None)

    def event(partition: int, offset: int) -> SimpleNamespace:
        message = SimpleNamespace(tp=f"calls:{partition}", topic="calls", partition=partition, offset=offset)
        return SimpleNamespace(message=message)

    batch = [event(1, o) for o in (40, 41, 42, 41, 42, 43)] + [event(2, 7), event(2, 7), event(1, 39)]
    taken = [(e.message.partition, e.message.offset) for e in delivery.due(batch)]
    assert taken == [(1, 40), (1, 41), (1, 42), (1, 43), (2, 7), (1, 39)]  # 39: a replay, taken once
    # The next batch starts afresh: a record read again there is a replay the receivers drop.
    assert [e.message.offset for e in delivery.due([event(1, 42)])] == [42]
