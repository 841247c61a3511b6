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


def test_a_static_member_restarted_within_the_session_timeout_moves_no_partition(stack):
    """With CXPULSE_GROUP_INSTANCE_ID (the pod name on Kubernetes) a quick restart is no rebalance."""
    from helpers import WorkerProcess, pick, wait_for
    from test_resilience import sharing

    from streams.cli.processes import free_port

    stack.extra_env["CXPULSE_SESSION_TIMEOUT"] = "30"

    ports = {"w0": free_port(), "w1": free_port()}

    def static(name: str) -> WorkerProcess:
        # A static member comes back on the same address, as a pod does: Faust's assignor checks
        # that the member's URL is the one it had.
        env = {**stack.env(ports[name]), "CXPULSE_GROUP_INSTANCE_ID": f"{stack.app_id}-{name}"}
        proc = WorkerProcess(env, stack.log_dir, name).start()
        stack.workers.append(proc)
        return proc

    first, second = static("w0"), static("w1")
    wait_for(lambda: sharing(stack.partitions, first, second), 90, what="two workers sharing the partitions")
    wait_for(lambda: pick(second.metrics(), "cxpulse_worker_ready") == 1, 30, what="the second to be ready")
    owned = first.assigned()
    rebalances = pick(second.metrics(), "cxpulse_worker_rebalances_total")
    first.kill()
    again = static("w0")
    wait_for(lambda: again.assigned() == owned, 60, what="the restarted member to own its partitions again")
    assert pick(second.metrics(), "cxpulse_worker_rebalances_total") == rebalances
    assert second.assigned() == stack.partitions - owned
