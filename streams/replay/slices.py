"""A long replay cut into slices of event time, replayed side by side by several processes.

A replay is one pass over ordered history, and its snapshots (not the KPI rules) take most of
its time; no snapshot depends on another, only on the state the records before it built. A
slice of the history is therefore replayed by a process of its own: it applies every record
from the start without snapshots (three to four times faster than with them) up to a dense
stretch before its window, snapshots from there to a dense stretch after it, and writes only
the samples within its window. A series' samples in the window are chosen as a replay of the
whole history chooses them (:mod:`metrics.export.cadence`): a step is written for what lies
within the longest dense stretch on either side of it, which the slice has seen, and the
refresh grid is counted from the epoch, not from a process's first snapshot. The block files
of the slices together are the block files of one replay, byte for byte.

Windows are cut at block boundaries, so no two processes write one block's file, and sized so
that each process has about the same work: a later slice first replays what comes before it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metrics.export.cadence import longest_dense_seconds

# What replaying a stretch of history without snapshots costs, against the same stretch with a
# snapshot every minute and its blocks loaded: from the two slices of a large centre's quarter,
# which a cut for equal work at this figure evens out (docs/performance.md). Early days, whose
# forecast has less history to read, cost less with snapshots: the figure holds that too.
WARM_COST = 0.38


@dataclass(frozen=True, slots=True)
class Slice:
    """One process's share: samples of snapshots ``window_from <= at < window_until`` written,
    snapshots taken from ``since`` (None: the first step) to ``until`` (None: the last event)."""

    number: int
    window_from: float
    window_until: float
    since: float | None
    until: float | None

    @property
    def last(self) -> bool:
        return math.isinf(self.window_until)


def plan(
    start: float,
    end: float,
    jobs: int,
    step: float,
    block_seconds: int,
    since: float | None = None,
    until: float | None = None,
) -> list[Slice]:
    """Slices of the history from ``start`` to ``end`` (event time) for ``jobs`` processes, with
    ``since`` and ``until`` as a single replay would take them. Fewer slices where the history
    is too short to give each at least a block."""
    first = start if since is None else max(start, since)
    last = end if until is None else min(end, until)
    span = max(0.0, last - first)
    # Equal work: slice k replays up to its window's start without snapshots (WARM_COST a day),
    # then its window with them: x_{k+1} = x_k (1 - w) + W, so x_k = W (1 - (1 - w)^k) / w.
    w = WARM_COST
    whole = span * w / (1 - (1 - w) ** jobs) if jobs > 1 else span
    cuts: list[float] = []
    for k in range(1, jobs):
        at = first + whole * (1 - (1 - w) ** k) / w
        cut = round(at / block_seconds) * block_seconds
        if first < cut < last and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    margin = (math.ceil(longest_dense_seconds() / step) + 3) * step if step > 0 else 0.0
    edges = [-math.inf, *cuts, math.inf]
    slices = []
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        # Before the window, snapshots from a dense stretch and a step back: a series' first
        # sample there is the slice's, and its dense stretch ends before the window.
        own_since = since if k == 0 else lo - margin
        own_until = until if math.isinf(hi) else hi + margin
        if until is not None and own_until is not None:
            own_until = min(own_until, until)
        slices.append(Slice(k, lo, hi, own_since, own_until))
    return slices


class SliceFailed(RuntimeError):
    """A slice's process failed: its message."""


def run_slices(
    slices: list[Slice],
    work: Callable[[Slice, Callable[[float], None]], dict[str, Any]],
    on_progress: Callable[[int, float], None],
) -> list[dict[str, Any]]:
    """Run ``work(slice, progress)`` for every slice, each in a process forked from this one
    (which holds the settings and filters already made); ``progress(clock)`` in a slice calls
    ``on_progress(number, clock)`` here. The answers of ``work`` in slice order; the first
    failure stops the others and is raised as :class:`SliceFailed`."""
    context = multiprocessing.get_context("fork")
    messages: Any = context.Queue()
    processes = [
        context.Process(target=_serve, args=(piece, work, messages), name=f"cxpulse-slice-{piece.number}")
        for piece in slices
    ]
    for process in processes:
        process.start()
    answers: dict[int, dict[str, Any]] = {}
    try:
        while len(answers) < len(slices):
            try:
                kind, number, body = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise SliceFailed(f"{dead[0].name} ended with exit code {dead[0].exitcode}") from None
                continue
            if kind == "progress":
                on_progress(number, body)
            elif kind == "done":
                answers[number] = body
            else:
                raise SliceFailed(body)
    finally:
        for process in processes:
            if process.is_alive() and len(answers) < len(slices):
                process.terminate()
            process.join()
    return [answers[piece.number] for piece in slices]


def _serve(
    piece: Slice, work: Callable[[Slice, Callable[[float], None]], dict[str, Any]], messages: Any
) -> None:
    parent = os.getppid()

    def progress(clock: float) -> None:
        if os.getppid() != parent:  # the command was killed: nobody waits for this slice
            os._exit(1)
        messages.put(("progress", piece.number, clock))

    try:
        answer = work(piece, progress)
    except KeyboardInterrupt:  # Ctrl-C reaches every slice: the parent says it, once
        os._exit(130)
    except Exception as exc:  # said in the parent, which stops the other slices
        messages.put(("failed", piece.number, str(exc) or type(exc).__name__))
        return
    messages.put(("done", piece.number, answer))
