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
    source = _source(files, settings, first, until_at)
    from streams.cli.gc_tuning import tune_gc

    tune_gc()
    engine = Replay(settings)
    engine.keep_rejections = rejected is not None
    from metrics.export.family_filter import FamilyFilter

    keep = FamilyFilter(_items(families), _items(skip_families)) if families or skip_families else None
    own_blocks = prometheus_data is not None and blocks is None  # a folder of our own: emptied as loaded
    if prometheus_data is not None and blocks is None:
        blocks = prometheus_data.parent / f"{prometheus_data.name}-openmetrics"
    loader = None
    if prometheus_data is not None:  # before the replay: say now if promtool is missing
        from streams.replay.block_loader import BlockLoader

        try:
            loader = BlockLoader(_promtool(), prometheus_data, remove_loaded=own_blocks)
        except OSError as exc:
            raise click.ClickException(
                f"cannot use {prometheus_data} as Prometheus' data folder: {exc}"
            ) from None
    writer = _writer(out, blocks, step, every_step, keep, loader.submit if loader is not None else None)
    started = time.monotonic()
    try:
        records_read, stopped = _run(engine, source, writer, step, first, until_at, quiet)
    except RuntimeError as exc:  # promtool refused a block loaded during the replay
        raise click.ClickException(str(exc)) from None
    if engine.clock is None:
        writer.close()
        raise click.ClickException("no valid event in the input: nothing to replay")
    last = _moment(final_at) or (until_at if stopped and until_at is not None else engine.clock)
    if first is not None and last < first:
        writer.close()
        raise click.ClickException(
            f"the input ends before --since ({since}): nothing to write; its newest event is at "
            f"{_stamp(engine.clock)}"
        )
    try:
        engine.snapshot(writer.sink, last)
        samples = writer.close()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = time.monotonic() - started
    if keep is not None and keep.unmatched():
        click.echo(f"warning: no family matched {', '.join(keep.unmatched())}", err=True)
    if rejected is not None:
        _write_rejections(engine, rejected)
    click.echo(_replay_summary(engine, last), err=True)
    click.echo(
        f"{records_read} records in {elapsed:.1f} s ({records_read / max(elapsed, 1e-9):,.0f} records/s): "
        f"{sum(engine.events.values())} valid, {sum(engine.invalid.values())} rejected, "
        f"{engine.duplicates} duplicates, {engine.late} late facts",
        err=True,
    )
    if blocks is None:
        click.echo(f"wrote {samples} samples to {out}", err=True)
        click.echo(
            f"load them with: promtool tsdb create-blocks-from openmetrics {out} <prometheus data dir>",
            err=True,
        )
        return
    if loader is None:
        click.echo(f"wrote {samples} samples to {len(writer.files)} files in {blocks}", err=True)
        click.echo("load them with: cxpulse replay ... --prometheus-data <prometheus data dir>", err=True)
        return
    _finish_loading(
        loader, blocks if own_blocks else None, samples, len(writer.files), prometheus_data, quiet
    )


def _finish_loading(
    loader: BlockLoader, own_folder: Path | None, samples: int, blocks: int, data: Path | None, quiet: bool
) -> None:
    """Wait for the blocks still loading; the replay's own folder of files goes once they are in."""
    started = time.monotonic()
    left = loader.waiting()
    with click.progressbar(
        length=left, label="loading the last blocks", file=sys.stderr, hidden=quiet
    ) as bar:
        try:
            loader.wait(lambda: bar.update(1))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    if own_folder is not None and not any(own_folder.iterdir()):
        own_folder.rmdir()  # every file in it was loaded and removed
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


def _writer(
    out: Path,
    blocks: Path | None,
    step: float,
    every_step: bool,
    keep: Callable[[str, str], bool] | None,
    on_block: Callable[[Path], None] | None,
) -> OpenMetricsWriter:
    """One OpenMetrics file at ``out``, or one file per two-hour block in ``blocks`` (each handed
    to ``on_block`` as soon as it is written)."""
    from metrics.export.openmetrics import OpenMetricsWriter

    if blocks is not None:
        return OpenMetricsWriter(
            blocks,
            step=step,
            every_step=every_step,
            block_seconds=BLOCK_SECONDS,
            keep=keep,
            on_block=on_block,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    return OpenMetricsWriter(out, step=step, every_step=every_step, keep=keep)


def _run(
    engine: Replay,
    source: JsonLines | KafkaRange,
    writer: OpenMetricsWriter,
    step: float,
    first: float | None,
    until: float | None,
    quiet: bool,
) -> tuple[int, bool]:
    """Replay every record, with a progress bar on stderr; the records read and whether
    ``until`` stopped the replay. Snapshots before ``first`` build state but are not written."""
    from streams.replay.driver import run

    records_read = 0
    with click.progressbar(
        length=source.total,
        label=f"replaying {source.total} {source.unit}",
        file=sys.stderr,
        hidden=quiet,
        show_pos=source.unit == "records",
    ) as bar:

        def records() -> Iterator[Record]:
            nonlocal records_read
            pending = 0
            for record, size in source:
                pending += size
                if pending >= 65536 or (source.unit == "records" and pending >= 1000):
                    bar.update(pending)
                    pending = 0
                if record is not None:
                    records_read += 1
                    yield record
            bar.update(pending)

        def snapshot(at: float) -> None:
            if first is None or at >= first:
                engine.snapshot(writer.sink, at)

        stopped = run(engine, records(), step, snapshot, until=until)
    return records_read, stopped


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
