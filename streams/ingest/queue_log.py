"""Follow Asterisk's ``queue_log`` like ``tail -F``, and remember how far Kafka has it.

Lines go to Kafka in batches through the same idempotent ``acks=all`` producer as the
gateway; only after Kafka acknowledged a batch is the position saved (file identity and
byte offset, written atomically). A restart therefore resumes at the first line Kafka does
not hold: nothing skipped, and a line sent twice after a crash carries the same event id,
which the worker counts once.

Rotation: when the path names a new file (``logrotate`` renamed the old one), the rest of
the old file is read first, then the new one from its start; a file cut shorter in place
(``copytruncate``) is read again from its start. A follower restarted after a rotation looks
for the file it was reading among its neighbours, by identity, and finishes it first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from metrics.contract.validation import Limits
from metrics.documents import JsonObject
from streams.ingest.adapters import QUEUE_LOG
from streams.ingest.adapters.common import Lookups, Unmappable
from streams.ingest.contract_batch import Addressed, address
from streams.ingest.sink import KafkaSink, wait_unless_stopped

log = logging.getLogger("cxpulse.ingest.queue_log")
BATCH_LINES = 500


@dataclass
class Position:
    """Where the next line to send starts: a file (device and inode) and a byte offset in it."""

    device: int
    inode: int
    offset: int

    @staticmethod
    def load(path: Path) -> Position | None:
        try:
            doc = json.loads(path.read_text())
            return Position(int(doc["device"]), int(doc["inode"]), int(doc["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}: unreadable follower state ({exc}); delete it to start over") from None

    def save(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({"device": self.device, "inode": self.inode, "offset": self.offset}))
        os.replace(temporary, path)


class QueueLogFollower:
    def __init__(
        self,
        path: Path,
        state: Path,
        sink: KafkaSink,
        lookups: Lookups,
        limits: Limits,
        from_end: bool = False,
        poll_seconds: float = 0.5,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.sink = sink
        self.lookups = lookups
        self.limits = limits
        self.from_end = from_end
        self.poll_seconds = poll_seconds
        self.on_batch = on_batch  # (lines read, events sent), for progress output
        self.sent = 0
        self.skipped = 0

    async def run(self, stop: asyncio.Event) -> None:
        current, position = self._resume()
        try:
            while not stop.is_set():
                if current is None:
                    current, position = self._open_new()
                    if current is None:
                        await wait_unless_stopped(stop, self.poll_seconds)
                        continue
                moved = await self._send_lines(current, position, stop)
                if moved:
                    continue
                # Nothing new here: has the path been rotated or truncated meanwhile?
                replaced = self._replaced(position)
                if replaced == "truncated":
                    log.info("%s was truncated; reading it from its start", self.path)
                    current.seek(0)
                    position.offset = 0
                    position.save(self.state)
                elif replaced == "rotated":
                    # The old file is read to its end above before we switch.
                    current.close()
                    current, position = self._open_new(offset=0)
                    if position is not None:
                        position.save(self.state)
                else:
                    await wait_unless_stopped(stop, self.poll_seconds)
        finally:
            if current is not None:
                current.close()

    def _resume(self) -> tuple[IO[bytes] | None, Position | None]:
        saved = Position.load(self.state)
        if saved is None:
            return self._open_new(offset=None)
        same = self._find(saved)
        if same is None:
            log.warning("the file being followed (inode %d) is gone; starting %s from its start",
                        saved.inode, self.path)  # fmt: skip
            return self._open_new(offset=0)
        handle = open(same, "rb")  # noqa: SIM115 - closed by run()
        handle.seek(saved.offset)
        return handle, saved

    def _find(self, saved: Position) -> Path | None:
        """The file with the saved identity: the path itself, or a rotated neighbour of it."""
        candidates = [self.path, *sorted(self.path.parent.glob(self.path.name + "*"))]
        for candidate in candidates:
            try:
                st = candidate.stat()
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) == (saved.device, saved.inode):
                return candidate
        return None

    def _open_new(self, offset: int | None = 0) -> tuple[IO[bytes] | None, Position | None]:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by run()
        except FileNotFoundError:
            return None, None
        st = os.fstat(handle.fileno())
        start = st.st_size if offset is None and self.from_end else (offset or 0)
        handle.seek(start)
        return handle, Position(st.st_dev, st.st_ino, start)

    def _replaced(self, position: Position) -> str | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None  # between a rename and the new file: wait
        if (st.st_dev, st.st_ino) != (position.device, position.inode):
            return "rotated"
        if st.st_size < position.offset:
            return "truncated"
        return None

    async def _send_lines(self, handle: IO[bytes], position: Position, stop: asyncio.Event) -> bool:
        """Send the complete lines from the position on; True if any line was read."""
        lines: list[bytes] = []
        size = 0
        while len(lines) < BATCH_LINES:
            line = handle.readline()
            if not line:
                break
            if not line.endswith(b"\n"):  # Asterisk is still writing it
                handle.seek(-len(line), os.SEEK_CUR)
                break
            lines.append(line)
            size += len(line)
        if not lines:
            return False
        events = self._events(lines)
        if not await self.sink.send_patiently(events, stop, f"{len(lines)} lines"):
            handle.seek(-size, os.SEEK_CUR)  # read again on the next start
            return True
        position.offset += size
        position.save(self.state)
        self.sent += len(events)
        if self.on_batch is not None:
            self.on_batch(len(lines), len(events))
        return True

    def _events(self, lines: list[bytes]) -> list[Addressed]:
        out: list[Addressed] = []
        for line in lines:
            try:
                docs: list[JsonObject] = QUEUE_LOG(line.decode("utf-8", "replace"), self.lookups)
            except Unmappable as exc:
                self.skipped += 1
                log.warning("skipped a queue_log line: %s", exc)
                continue
            ready, refused = address(docs, self.limits, None)
            out.extend(ready)
            for refusal in refused:
                self.skipped += 1
                log.warning("skipped a queue_log event (%s): %s", refusal.reason, refusal.detail)
        return out
