"""Start-up on a real Apache Kafka: a fresh worker always comes to own its partitions."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.kafka

FRESH_WORKERS = int(os.environ.get("CXPULSE_FRESH_WORKERS", "12"))


@pytest.mark.stress
def test_fresh_workers_on_fresh_app_ids_each_own_every_partition(kafka, tmp_path):
    """New topics every time: the worker must never join the group before they are visible."""
    from conftest import Stack

    for i in range(FRESH_WORKERS):
        stack = Stack(kafka, tmp_path)
        worker = stack.worker(f"fresh-{i}")
        try:
            worker.wait_assigned(stack.partitions, timeout=60)
        finally:
            worker.kill()
        # Owning them late (after a metadata refresh) would still be the race: the group must
        # never have been assigned without one of the worker's topics.
        assert "Ignoring missing topic" not in worker.log_path.read_text(), worker.log_tail()
