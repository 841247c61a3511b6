"""`cxpulse demo` stops everything it started, on every signal, and refuses a port in use up front."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, environment_without_settings, wait_for

from streams.cli.processes import free_port, free_ports, port_in_use


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_demo(tmp_path: Path, port: int, *more: str) -> subprocess.Popen[str]:
    env = environment_without_settings()
    env["CXPULSE_DEMO_DIR"] = str(tmp_path / "demo")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--web-port", str(port), *more],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as a terminal would run it: signals reach the demo alone
    )


def wait_until_up(demo: subprocess.Popen[str]) -> list[str]:
    assert demo.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ingest:"):  # the last process started: the gateway
            return lines
    raise AssertionError("demo did not come up:\n" + "".join(lines))


def broker_port(tmp_path: Path, demo_pid: int) -> int:
    """The Tansu broker's port, from its command line."""
    for pid in children(demo_pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--listener-url" in cmdline:
            return int(cmdline[cmdline.index(b"--listener-url") + 1].rsplit(b":", 1)[1])
    raise AssertionError("no broker among the demo's children")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_each_stop_signal_ends_the_worker_and_the_broker(tmp_path, signum):
    port, chosen_broker, chosen_ingest = free_ports(3)
    demo = start_demo(
        tmp_path, port, "--broker-port", str(chosen_broker), "--ingest-port", str(chosen_ingest)
    )
    try:
        lines = wait_until_up(demo)
        assert lines[-1].startswith(f"ingest:   http://127.0.0.1:{chosen_ingest}/v1/"), lines
        token = demo.stdout.readline() if demo.stdout else ""
        assert "Authorization: Bearer cxpulse-demo-token" in token, token
        started = children(demo.pid)
        assert len(started) == 3, started  # the worker, the broker and the ingest gateway
        kafka_port = broker_port(tmp_path, demo.pid)
        assert kafka_port == chosen_broker
        demo.send_signal(signum)
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0, out
        assert f"{signum.name} received: stopping" in out
        assert [pid for pid in started if alive(pid)] == []
        assert not port_in_use(port) and not port_in_use(kafka_port)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)


def test_a_killed_demo_takes_its_worker_and_broker_with_it(tmp_path):
    port = free_port()
    demo = start_demo(tmp_path, port)
    wait_until_up(demo)
    started = children(demo.pid)
    kafka_port = broker_port(tmp_path, demo.pid)
    demo.kill()  # SIGKILL: the demo cleans nothing up itself
    demo.wait()
    wait_for(lambda: not any(alive(pid) for pid in started), 30, what="the demo's children to stop")
    wait_for(lambda: not port_in_use(port) and not port_in_use(kafka_port), 10, what="the ports to be free")


def test_a_port_in_use_stops_the_demo_at_once_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = start_demo(tmp_path, port)
        out, _ = demo.communicate(timeout=30)
    assert demo.returncode == 1
    assert out.splitlines() == [
        f"Error: port {port} is already in use (another cxpulse demo or worker?); stop it, or give "
        f'this demo a free port with --web-port (with make: make demo DEMO_ARGS="--web-port <port>")'
    ]


def test_a_port_in_use_stops_the_worker_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment_without_settings()
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", "worker", "--web-port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"port {port} on 0.0.0.0 is already in use" in result.stderr
    assert "CXPULSE_WEB_PORT" in result.stderr


def test_a_stop_signal_during_start_up_also_stops_everything(tmp_path):
    """The signal comes while the broker and worker start: nothing started is left behind."""
    port = free_port()
    demo = start_demo(tmp_path, port)
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith("starting the local Kafka-protocol broker")
        wait_for(lambda: children(demo.pid), 30, interval=0.05, what="the broker to be started")
        started = children(demo.pid)
        demo.send_signal(signal.SIGTERM)
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0, out
        assert "SIGTERM received: stopping" in out
        assert [pid for pid in started + children(demo.pid) if alive(pid)] == []
        assert not port_in_use(port)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
