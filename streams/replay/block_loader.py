"""Blocks into a Prometheus data folder with promtool, while the replay writes the next ones.

A replay written as one OpenMetrics file per two-hour block hands each file over as soon as it
is final (:class:`metrics.export.openmetrics.OpenMetricsWriter`'s ``on_block``), so loading
overlaps the replay instead of following it: promtool needs less than a core for a block the
replay took seconds to compute. A file is removed once loaded when the folder is the replay's
own (nothing of it is wanted afterwards), so a long backfill keeps a few blocks on disk.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


class LoadFailed(RuntimeError):
    """promtool refused a block: its message, and the file it refused."""


class BlockLoader:
    def __init__(self, promtool: str, data: Path, remove_loaded: bool, workers: int | None = None) -> None:
        self.promtool = promtool
        self.data = data
        self.remove_loaded = remove_loaded
        data.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2)
        self._pending: list[Future[None]] = []
        # promtool is a Go program that holds a block's series in memory: collecting its garbage
        # less often (GOGC=400 rather than 100) spares a fifth of its CPU for some 40 MB more,
        # CPU the replay beside it needs. A GOGC of the user's own stands.
        self._env = {"GOGC": "400", **os.environ}

    def submit(self, path: Path) -> None:
        """Load ``path`` soon; a load that already failed stops the replay here, not at its end."""
        self._raise_failed()
        self._pending.append(self._pool.submit(self._load, path))

    def wait(self, after_each: Callable[[], None] = lambda: None) -> None:
        """Every submitted block loaded (``after_each`` called as each is); raises the first failure."""
        try:
            for future in self._pending:
                future.result()
                after_each()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def waiting(self) -> int:
        """Blocks submitted and not loaded yet."""
        return sum(1 for future in self._pending if not future.done())

    def _raise_failed(self) -> None:
        for future in self._pending:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error

    def _load(self, path: Path) -> None:
        done = subprocess.run(
            [
                self.promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(path),
                str(self.data),
            ],
            capture_output=True,
            text=True,
            env=self._env,
        )
        if done.returncode != 0:
            raise LoadFailed(f"promtool could not load {path}: {done.stderr.strip() or done.stdout}")
        if self.remove_loaded:
            path.unlink(missing_ok=True)
