"""``cxpulse replay --jobs N``: the history cut into slices of event time, one process each
(:mod:`streams.replay.slices`), each replayed by :func:`streams.cli.replay_stretch.stretch`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from streams.cli.replay_stretch import (
    BLOCK_SECONDS,
    Output,
    moment,
    progress_bar,
    stamp,
    stretch,
    summaries,
    write_rejections,
)

if TYPE_CHECKING:
    from streams.replay.slices import Slice
    from streams.settings import Settings


def replay_sliced(
    settings: Settings,
    output: Output,
    files: tuple[Path, ...],
    jobs: int,
    first: float | None,
    until: float | None,
    final_at: str | None,
    rejected: Path | None,
    quiet: bool,
) -> tuple[int, int, int, tuple[str, str], list[str]]:
    """The replay in ``jobs`` slices of event time, one process each (:mod:`streams.replay.slices`):
    records read, samples and files written, the summaries of the last slice, which reads every
    record, and the families asked for that it found none of."""
    from streams.replay.driver import Replay
    from streams.replay.slices import SliceFailed, plan, run_slices
    from streams.replay.sources import JsonLines

    start, end = _span(files)
    slices = plan(start, end, jobs, output.step, BLOCK_SECONDS, first, until)
    # Event time each slice goes through, from the history's start: what its progress is out of.
    reach = [max(0.0, (end if piece.until is None else min(piece.until, end)) - start) for piece in slices]
    if not quiet:
        for piece in slices:
            click.echo(f"slice {piece.number + 1} of {len(slices)}: {_window(piece)}", err=True)

    def work(piece: Slice, on_clock: Callable[[float], None]) -> dict[str, Any]:
        began = time.monotonic()
        engine = Replay(settings)
        source = JsonLines(list(files))
        engine.keep_rejections = piece.last and rejected is not None
        loader = output.loader()
        writer = output.writer(loader, (piece.window_from, piece.window_until))
        try:
            read, last = stretch(
                engine, source, writer, output.step, piece.since, piece.until,
                final_at if piece.last else None, progress_bar(source, quiet=True), on_clock,
            )  # fmt: skip
        except click.ClickException as exc:
            raise RuntimeError(f"slice {piece.number + 1}: {exc.message}") from None
        except ValueError as exc:
            raise RuntimeError(f"slice {piece.number + 1}: {exc}") from None
        if loader is not None:
            loader.wait()
        answer: dict[str, Any] = {"samples": writer.samples, "files": len(writer.files), "records": read}
        answer["seconds"] = time.monotonic() - began
        if piece.last:
            if rejected is not None:
                write_rejections(engine, rejected)
            answer["summary"] = summaries(engine, last, read)
            answer["unmatched"] = output.keep.unmatched() if output.keep is not None else []
        return answer

    reached = [0.0] * len(slices)
    with click.progressbar(
        length=int(sum(reach)), label=f"replaying in {len(slices)} slices", file=sys.stderr, hidden=quiet
    ) as bar:

        def on_progress(number: int, clock: float) -> None:
            now = min(max(0.0, clock - start), reach[number])
            bar.update(int(now) - int(reached[number]))
            reached[number] = now

        try:
            answers = run_slices(slices, work, on_progress)
        except SliceFailed as exc:
            raise click.ClickException(str(exc)) from None
        bar.update(int(sum(reach)) - sum(int(r) for r in reached))
    if not quiet:  # which slice took longest: how even the cut was
        took = ", ".join(f"slice {n} {a['seconds']:.0f} s" for n, a in enumerate(answers, start=1))
        click.echo(f"replayed and loaded: {took}", err=True)
    return (
        answers[-1]["records"],
        sum(a["samples"] for a in answers),
        sum(a["files"] for a in answers),
        answers[-1]["summary"],
        answers[-1]["unmatched"],
    )


def _window(piece: Slice) -> str:
    lo = "the start" if piece.number == 0 else stamp(piece.window_from)
    hi = "the end" if piece.last else stamp(piece.window_until)
    return f"samples from {lo} to {hi}"


def _span(files: tuple[Path, ...]) -> tuple[float, float]:
    """The event times of the first and last events in ``files`` (the first and last lines that
    carry one): what the slices are cut from."""
    import orjson

    def event_time(line: bytes) -> float | None:
        try:
            value = orjson.loads(line).get("occurred_at")
            return moment(value) if isinstance(value, str) else None
        except (orjson.JSONDecodeError, AttributeError, click.BadParameter):
            return None

    first = last = None
    with open(files[0], "rb") as head:
        for line in head:
            first = event_time(line)
            if first is not None:
                break
    with open(files[-1], "rb") as tail:
        size = tail.seek(0, 2)
        tail.seek(max(0, size - (1 << 20)))
        lines = tail.read().splitlines()
        for line in reversed(lines[1:] if size > 1 << 20 else lines):
            last = event_time(line)
            if last is not None:
                break
    if first is None or last is None:
        raise click.ClickException(
            f"no event time found in the first and last lines of {', '.join(map(str, files))}"
        )
    return first, max(first, last)
