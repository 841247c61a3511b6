"""``cxpulse replay``: every KPI recomputed for stored history, written as OpenMetrics for Prometheus."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from streams.cli.common import kafka_errors, load_settings, settings_options
from streams.cli.replay_stretch import Output, moment, progress_bar, stretch, summaries, write_rejections

if TYPE_CHECKING:  # imported when a replay starts: `cxpulse --help` stays quick
    from streams.replay.block_loader import BlockLoader
    from streams.replay.sources import JsonLines, KafkaRange
    from streams.settings import Settings


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
    first, until_at = moment(since), moment(until)
    if first is not None and until_at is not None and until_at < first:
        raise click.BadParameter("is before --since", param_hint="--until")
    if jobs > 1 and (from_kafka or (blocks is None and prometheus_data is None)):
        raise click.UsageError(
            "--jobs replays JSON Lines FILES into block files: give FILES and --blocks DIR or "
            "--prometheus-data DIR (or leave --jobs out)"
        )
    from streams.cli.gc_tuning import tune_gc

    tune_gc()
    from metrics.export.family_filter import FamilyFilter

    keep = FamilyFilter(_items(families), _items(skip_families)) if families or skip_families else None
    own_blocks = prometheus_data is not None and blocks is None  # a folder of our own: emptied as loaded
    if prometheus_data is not None and blocks is None:
        blocks = prometheus_data.parent / f"{prometheus_data.name}-openmetrics"
    promtool = _promtool() if prometheus_data is not None else None  # say now if it is missing
    output = Output(out, blocks, step, every_step, keep, promtool, prometheus_data, own_blocks)
    started = time.monotonic()
    if jobs > 1:
        assert blocks is not None
        output.check()
        from streams.cli.replay_slices import replay_sliced

        done = replay_sliced(settings, output, files, jobs, first, until_at, final_at, rejected, quiet)
        records_read, samples, written, summary, unmatched = done
    else:
        source = _source(files, settings, first, until_at)
        engine = Replay(settings)
        engine.keep_rejections = rejected is not None
        loader = output.loader()
        writer = output.writer(loader, None)
        try:
            records_read, last = stretch(
                engine, source, writer, step, first, until_at, final_at, progress_bar(source, quiet)
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if rejected is not None:
            write_rejections(engine, rejected)
        samples, written, summary = writer.samples, len(writer.files), summaries(engine, last, records_read)
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


def _items(values: tuple[str, ...]) -> list[str]:
    """Comma-separated and repeated option values, as one list."""
    return [item for value in values for item in value.split(",") if item.strip()]


def _promtool() -> str:
    import shutil

    found = shutil.which("promtool")
    if found is None:
        raise click.ClickException(
            "promtool is not on PATH: it comes with Prometheus (Debian and Ubuntu: apt install prometheus; "
            "or the release tarball from prometheus.io/download)"
        )
    return found
