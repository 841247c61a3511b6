"""Local ports and child processes of the commands that start others (the demo, the broker).

A child runs in a session of its own, so a terminal's Ctrl-C or hang-up reaches only the
command that started it, which then stops its children in order; and on Linux the kernel
sends the child SIGTERM if that command dies without cleaning up (SIGKILL, a crash), so no
worker or broker is left holding a port.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from typing import Any

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` different loopback ports free now.

    Each is held open until all are chosen: a port handed back by the system is free again at
    once, and asked one by one it may hand out the same port twice.
    """
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether binding ``host:port`` fails now (something else listens there)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start a child in its own session that ends when this process ends (on Linux)."""
    if sys.platform.startswith("linux"):
        popen["preexec_fn"] = _die_with_parent
    return subprocess.Popen(args, start_new_session=True, **popen)


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once the child is gone."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
