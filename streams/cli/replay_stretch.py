"""One process's replay of history into an OpenMetrics writer: what ``cxpulse replay`` runs once,
or once per slice of event time (:mod:`streams.cli.replay_slices`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported when a replay starts: `cxpulse --help` stays quick
    from metrics.export.family_filter import FamilyFilter
    from metrics.export.openmetrics import OpenMetricsWriter
    from streams.replay.block_loader import BlockLoader
    from streams.replay.driver import Record, Replay
    from streams.replay.sources import JsonLines, KafkaRange


BLOCK_SECONDS = 7200  # Prometheus' smallest block, which promtool writes


def moment(value: str | None) -> float | None:
    """Unix seconds from an RFC 3339 time or a number."""
    if value is None:
        return None
    from datetime import datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither RFC 3339 (2026-11-02T08:00:00Z) nor Unix seconds"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; add Z or +01:00")
    return parsed.timestamp()


def stamp(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


class Output:
    """Where a replay's samples go: one file, or block files (loaded with promtool if asked)."""

    def __init__(
        self,
        out: Path,
        blocks: Path | None,
        step: float,
        every_step: bool,
        keep: FamilyFilter | None,
        promtool: str | None,
        data: Path | None,
        own_blocks: bool,
    ) -> None:
        self.out, self.blocks, self.step, self.every_step, self.keep = out, blocks, step, every_step, keep
        self.promtool, self.data, self.own_blocks = promtool, data, own_blocks

    def loader(self) -> BlockLoader | None:
        """A loader of blocks into Prometheus' data folder, if one was given."""
        if self.promtool is None or self.data is None:
            return None
        from streams.replay.block_loader import BlockLoader

        self.check()
        return BlockLoader(self.promtool, self.data, remove_loaded=self.own_blocks)

    def check(self) -> None:
        """Say now, before any replay, if Prometheus' data folder cannot be made."""
        if self.data is None:
            return
        try:
            self.data.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot use {self.data} as Prometheus' data folder: {exc}") from None

    def writer(self, loader: BlockLoader | None, window: tuple[float, float] | None) -> OpenMetricsWriter:
        """One OpenMetrics file at ``out``, or one file per two-hour block in ``blocks`` (each handed
        to the loader as soon as it is written); with ``window``, only the snapshots within it."""
        from metrics.export.openmetrics import OpenMetricsWriter

        if self.blocks is not None:
            return OpenMetricsWriter(
                self.blocks,
                step=self.step,
                every_step=self.every_step,
                block_seconds=BLOCK_SECONDS,
                keep=self.keep,
                on_block=loader.submit if loader is not None else None,
                window=window,
            )
        self.out.parent.mkdir(parents=True, exist_ok=True)
        return OpenMetricsWriter(self.out, step=self.step, every_step=self.every_step, keep=self.keep)


def progress_bar(source: JsonLines | KafkaRange, quiet: bool) -> Any:
    """A progress bar over the source's bytes or records, on stderr (hidden: shows nothing)."""
    return click.progressbar(
        length=source.total,
        label=f"replaying {source.total} {source.unit}",
        file=sys.stderr,
        hidden=quiet,
        show_pos=source.unit == "records",
    )


def stretch(
    engine: Replay,
    source: JsonLines | KafkaRange,
    writer: OpenMetricsWriter,
    step: float,
    first: float | None,
    until: float | None,
    final_at: str | None,
    bar: Any,
    on_clock: Callable[[float], None] | None = None,
) -> tuple[int, float]:
    """Replay every record into ``writer`` and close it, with progress on ``bar`` (and the
    stream's clock to ``on_clock`` as often): the records read and the time of the final
    snapshot. Snapshots before ``first`` build state but are not written. Raises ValueError when
    there is nothing to write, ClickException when promtool refused a block."""
    from streams.replay.driver import run

    records_read = 0
    with bar:

        def records() -> Iterator[Record]:
            nonlocal records_read
            pending = 0
            for record, size in source:
                pending += size
                if pending >= 65536 or (source.unit == "records" and pending >= 1000):
                    bar.update(pending)
                    pending = 0
                    if on_clock is not None and engine.clock is not None:
                        on_clock(engine.clock)
                if record is not None:
                    records_read += 1
                    yield record
            bar.update(pending)

        def snapshot(at: float) -> None:
            if first is None or at >= first:
                engine.snapshot(writer.sink, at)

        try:
            stopped = run(engine, records(), step, snapshot, until=until)
        except RuntimeError as exc:  # promtool refused a block loaded during the replay
            writer.close()
            raise click.ClickException(str(exc)) from None
    if engine.clock is None:
        writer.close()
        raise ValueError("no valid event in the input: nothing to replay")
    last = moment(final_at) or (until if stopped and until is not None else engine.clock)
    if first is not None and last < first:
        writer.close()
        raise ValueError(
            f"the input ends before {stamp(first)}: nothing to write; its newest event is at "
            f"{stamp(engine.clock)}"
        )
    try:
        engine.snapshot(writer.sink, last)
        writer.close()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    return records_read, last


def summaries(engine: Replay, last: float, records_read: int) -> tuple[str, str]:
    """The KPI totals as of the final snapshot, and what was read."""
    return replay_summary(engine, last), (
        f"{sum(engine.events.values())} valid, {sum(engine.invalid.values())} rejected, "
        f"{engine.duplicates} duplicates, {engine.late} late facts"
    )


def write_rejections(engine: Replay, path: Path) -> None:
    import orjson

    with open(path, "wb") as out:
        for record, rejection in engine.rejections:
            doc = {
                "reason": rejection.reason,
                "detail": rejection.detail,
                "source": record.source,
                "offset": record.offset,
                "value": record.value.decode("utf-8", "replace"),
            }
            out.write(orjson.dumps(doc) + b"\n")


def replay_summary(engine: Replay, at: float) -> str:
    """Per queue and channel: the totals a supervisor checks first, as of the final snapshot."""
    from metrics.aggregates.view import queue_totals

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = []
    for q in queue_totals(engine.values()):
        frt = q.mean("first_response_seconds")
        rows.append(
            (
                q.queue,
                q.channel,
                f"{q.count('tickets_created'):.0f}",
                share(q.ratio("tickets_escalated", "tickets_created")),
                "-" if frt is None else f"{frt:.0f}",
                f"{q.count('calls_offered'):.0f}",
                share(q.ratio("calls_abandoned", "calls_offered")),
                f"{q.count('tickets_open'):.0f}",
            )
        )
    header = ("queue", "channel", "tickets", "escalated", "FRT mean s", "calls", "abandoned", "open")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *rows]
    ]
    return f"\nKPI totals as of {stamp(at)}:\n" + "\n".join(lines)
