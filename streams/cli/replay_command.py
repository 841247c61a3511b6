"""``cxpulse replay``: every KPI recomputed for stored history, written as OpenMetrics for Prometheus."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from streams.cli.common import kafka_errors, load_settings, settings_options

if TYPE_CHECKING:  # imported when a replay starts: `cxpulse --help` stays quick
    from metrics.export.family_filter import FamilyFilter
    from metrics.export.openmetrics import OpenMetricsWriter
    from streams.replay.block_loader import BlockLoader
    from streams.replay.driver import Record, Replay
    from streams.replay.sources import JsonLines, KafkaRange
    from streams.settings import Settings


def _moment(value: str | None) -> float | None:
    """Unix seconds from an RFC 3339 time or a number."""
    if value is None:
        return None
    from datetime import datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither RFC 3339 (2026-11-02T08:00:00Z) nor Unix seconds"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; add Z or +01:00")
    return moment.timestamp()


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kafka", "from_kafka", is_flag=True, help="Read the event topics from the broker instead.")
@settings_options
@click.option(
    "--since",
    help="Write samples from this time on (RFC 3339 or Unix seconds). Earlier events in FILES are "
    "still replayed, to build the state the KPIs need (open tickets, calls waiting); with --kafka, "
    "reading starts at the first record written at or after it.",
)
@click.option(
    "--until",
    help="Stop at the first event stamped after this time; the last samples are written at it. "
    "With --kafka, reading also ends at the last record written at or before it.",
)
@click.option(
    "--families",
    "families",
    multiple=True,
    help="Write only these metric families: names as in # TYPE lines, shell patterns "
    "(cxpulse_window_*) or a set: rules (what the shipped rules read), dashboards (what the "
    "shipped dashboards read), all. Comma-separated or repeated; default all.",
)
@click.option(
    "--skip-families",
    "skip_families",
    multiple=True,
    help="Leave these families out (same forms as --families), e.g. cxpulse_window_*.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("cxpulse-replay.om"),
    show_default=True,
    help="OpenMetrics file to write, for promtool tsdb create-blocks-from openmetrics.",
)
@click.option(
    "--blocks",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one OpenMetrics file per two-hour block into this folder instead of --out "
    "(promtool reads a file once per two hours it spans: per block, once in all).",
)
@click.option(
    "--prometheus-data",
    type=click.Path(file_okay=False, path_type=Path),
    help="Load the blocks into this Prometheus data folder with promtool (implies --blocks, "
    "in a folder beside it unless given); Prometheus picks them up within a minute.",
)
@click.option(
    "--step",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds of event time between two snapshots of every series (0: only the final one).",
)
@click.option(
    "--every-step",
    is_flag=True,
    help="Write every series at every step, also while it stands still (by default a series is "
    "written when it changes and as often as the shipped rules and dashboards need to read the same).",
)
@click.option("--at", "final_at", help="Time of the final snapshot (default: the newest event's time).")
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each rejected record with its reason to this JSON Lines file.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes replaying slices of the history side by side (JSON Lines FILES, with --blocks "
    "or --prometheus-data). Each slice first replays what comes before it without snapshots; "
    "the files written are those of one process. Up to the cores left beside promtool.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def replay(
    files: tuple[Path, ...],
    from_kafka: bool,
    since: str | None,
    until: str | None,
    out: Path,
    step: float,
    final_at: str | None,
    every_step: bool,
    families: tuple[str, ...],
    skip_families: tuple[str, ...],
    blocks: Path | None,
    prometheus_data: Path | None,
    rejected: Path | None,
    jobs: int,
    quiet: bool,
    **options: Any,
) -> None:
    """Recompute every KPI for stored history, fast, and load it into Prometheus.

    Reads events from JSON Lines FILES (one event per line, any mix of tickets, calls,
    surveys and customer events, in the order they happened) or, with --kafka, from the
    event topics. Events go through the same validation and KPI rules as the live worker,
    in one process without Faust, and every series the worker exports is written as it
    stood every --step seconds of event time (a sample when it changed, and as often as the
    shipped rules and dashboards need to read the same otherwise). Into Prometheus:

    \b
      cxpulse replay events.jsonl --prometheus-data /var/lib/prometheus/data

    Settings (thresholds, queue settings, grace) come from the same CXPULSE_* variables as
    the worker's, so the numbers match what the worker shows. More: docs/backfill.md.
    """
    from streams.replay.driver import Replay

    if bool(files) == from_kafka:
        raise click.UsageError("give JSON Lines FILES or --kafka (one of them)")
    if step < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--step")
    settings = load_settings(**options)
    first, until_at = _moment(since), _moment(until)
    if first is not None and until_at is not None and until_at < first:
        raise click.BadParameter("is before --since", param_hint="--until")
    if jobs > 1 and (from_kafka or (blocks is None and prometheus_data is None)):
        raise click.UsageError(
            "--jobs replays JSON Lines FILES into block files: give FILES and --blocks DIR or "
            "--prometheus-data DIR (or leave --jobs out)"
        )
    source = _source(files, settings, first, until_at)
    from streams.cli.gc_tuning import tune_gc

    tune_gc()
    from metrics.export.family_filter import FamilyFilter

    keep = FamilyFilter(_items(families), _items(skip_families)) if families or skip_families else None
    own_blocks = prometheus_data is not None and blocks is None  # a folder of our own: emptied as loaded
    if prometheus_data is not None and blocks is None:
        blocks = prometheus_data.parent / f"{prometheus_data.name}-openmetrics"
    promtool = _promtool() if prometheus_data is not None else None  # say now if it is missing
    output = _Output(out, blocks, step, every_step, keep, promtool, prometheus_data, own_blocks)
    started = time.monotonic()
    if jobs > 1:
        assert blocks is not None
        output.check()
        done = _replay_sliced(settings, output, files, jobs, first, until_at, final_at, rejected, quiet)
        records_read, samples, written, summary, unmatched = done
    else:
        engine = Replay(settings)
        engine.keep_rejections = rejected is not None
        loader = output.loader()
        writer = output.writer(loader, None)
        try:
            records_read, last = _stretch(
                engine, source, writer, step, first, until_at, final_at, _bar(source, quiet)
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if rejected is not None:
            _write_rejections(engine, rejected)
        samples, written, summary = writer.samples, len(writer.files), _summaries(engine, last, records_read)
        unmatched = keep.unmatched() if keep is not None else []
    elapsed = time.monotonic() - started
    if unmatched:
        click.echo(f"warning: no family matched {', '.join(unmatched)}", err=True)
    replayed, counts = summary
    click.echo(replayed, err=True)
    click.echo(
        f"{records_read} records in {elapsed:.1f} s "
        f"({records_read / max(elapsed, 1e-9):,.0f} records/s): {counts}",
        err=True,
    )
    if blocks is None:
        click.echo(f"wrote {samples} samples to {out}", err=True)
        click.echo(
            f"load them with: promtool tsdb create-blocks-from openmetrics {out} <prometheus data dir>",
            err=True,
        )
        return
    if prometheus_data is None:
        click.echo(f"wrote {samples} samples to {written} files in {blocks}", err=True)
        click.echo("load them with: cxpulse replay ... --prometheus-data <prometheus data dir>", err=True)
        return
    if jobs == 1:
        _finish_loading(loader, samples, written, prometheus_data, quiet)  # type: ignore[arg-type]
    else:
        click.echo(
            f"wrote {samples} samples in {written} blocks and loaded them into {prometheus_data}", err=True
        )
    if own_blocks and blocks.is_dir() and not any(blocks.iterdir()):
        blocks.rmdir()  # every file in it was loaded and removed


def _finish_loading(loader: BlockLoader, samples: int, blocks: int, data: Path, quiet: bool) -> None:
    """Wait for the blocks still loading."""
    started = time.monotonic()
    left = loader.waiting()
    with click.progressbar(
        length=left, label="loading the last blocks", file=sys.stderr, hidden=quiet
    ) as bar:
        try:
            loader.wait(lambda: bar.update(1))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"wrote {samples} samples in {blocks} blocks and loaded them into {data}, "
        f"as the replay went on ({left} after it, in {time.monotonic() - started:.1f} s)",
        err=True,
    )


def _source(
    files: tuple[Path, ...], settings: Settings, since: float | None, until: float | None
) -> JsonLines | KafkaRange:
    """The records to replay: JSON Lines FILES, or the event topics from ``since`` to ``until``."""
    from streams.replay.sources import JsonLines, KafkaRange

    if files:
        return JsonLines(list(files))
    with kafka_errors(settings):
        try:
            return KafkaRange(settings.kafka(), settings.source_topics(), since, until)
        except LookupError as exc:
            raise click.ClickException(f"{exc}; check --broker and the topic options") from exc


class _Output:
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


class _Quiet:
    """A progress bar that shows nothing (a slice's progress goes to the parent's bar)."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _bar(source: JsonLines | KafkaRange, quiet: bool) -> Any:
    return click.progressbar(
        length=source.total,
        label=f"replaying {source.total} {source.unit}",
        file=sys.stderr,
        hidden=quiet,
        show_pos=source.unit == "records",
    )


def _stretch(
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
    last = _moment(final_at) or (until if stopped and until is not None else engine.clock)
    if first is not None and last < first:
        writer.close()
        raise ValueError(
            f"the input ends before {_stamp(first)}: nothing to write; its newest event is at "
            f"{_stamp(engine.clock)}"
        )
    try:
        engine.snapshot(writer.sink, last)
        writer.close()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    return records_read, last


def _summaries(engine: Replay, last: float, records_read: int) -> tuple[str, str]:
    """The KPI totals as of the final snapshot, and what was read."""
    return _replay_summary(engine, last), (
        f"{sum(engine.events.values())} valid, {sum(engine.invalid.values())} rejected, "
        f"{engine.duplicates} duplicates, {engine.late} late facts"
    )


def _replay_sliced(
    settings: Settings,
    output: _Output,
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
    from streams.replay.slices import Slice, SliceFailed, plan, run_slices
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
        engine.keep_rejections = piece.last and rejected is not None
        loader = output.loader()
        writer = output.writer(loader, (piece.window_from, piece.window_until))
        try:
            read, last = _stretch(
                engine, JsonLines(list(files)), writer, output.step, piece.since, piece.until,
                final_at if piece.last else None, _Quiet(), on_clock,
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
                _write_rejections(engine, rejected)
            answer["summary"] = _summaries(engine, last, read)
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


def _window(piece: Any) -> str:
    lo = "the start" if piece.window_from == float("-inf") else _stamp(piece.window_from)
    hi = "the end" if piece.window_until == float("inf") else _stamp(piece.window_until)
    return f"samples from {lo} to {hi}"


def _span(files: tuple[Path, ...]) -> tuple[float, float]:
    """The event times of the first and last events in ``files`` (the first and last lines that
    carry one): what the slices are cut from."""
    import orjson

    def stamp(line: bytes) -> float | None:
        try:
            value = orjson.loads(line).get("occurred_at")
            return _moment(value) if isinstance(value, str) else None
        except (orjson.JSONDecodeError, AttributeError, click.BadParameter):
            return None

    first = last = None
    with open(files[0], "rb") as head:
        for line in head:
            first = stamp(line)
            if first is not None:
                break
    with open(files[-1], "rb") as tail:
        size = tail.seek(0, 2)
        tail.seek(max(0, size - (1 << 20)))
        lines = tail.read().splitlines()
        for line in reversed(lines[1:] if size > 1 << 20 else lines):
            last = stamp(line)
            if last is not None:
                break
    if first is None or last is None:
        raise click.ClickException(
            f"no event time found in the first and last lines of {', '.join(map(str, files))}"
        )
    return first, max(first, last)


BLOCK_SECONDS = 7200  # Prometheus' smallest block, which promtool writes


def _items(values: tuple[str, ...]) -> list[str]:
    """Comma-separated and repeated option values, as one list."""
    return [item for value in values for item in value.split(",") if item.strip()]


def _stamp(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _promtool() -> str:
    import shutil

    found = shutil.which("promtool")
    if found is None:
        raise click.ClickException(
            "promtool is not on PATH: it comes with Prometheus (Debian and Ubuntu: apt install prometheus; "
            "or the release tarball from prometheus.io/download)"
        )
    return found


def _write_rejections(engine: Replay, path: Path) -> None:
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


def _replay_summary(engine: Replay, at: float) -> str:
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
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return f"\nKPI totals as of {stamp}:\n" + "\n".join(lines)
