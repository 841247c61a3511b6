"""Alert backtest: weeks of a simulated centre with incidents at known times, the shipped alerts
evaluated over them in a real Prometheus, and the pages counted.

    python bench/backtest.py                  # make backtest: the small and the large centre
    python bench/backtest.py --profiles small --weeks 2 --json figures.json

What it does for each centre, stage by stage (each printed as it goes):

1. simulates the centre (``--profiles``: opening hours per weekday, closed nights and Sundays,
   a holiday in the last week): ``--warmup`` weeks of plain history, which a centre that
   backfilled its history on install has, so the seasonal baselines have a past; then the
   scored weeks, with scripted incidents (streams/simulator/incidents.py): escalation surges, an
   abandon spike from too few agents, first replies slowing, agents leaving early, the event
   feed stopping while open; normal Monday ramps and quiet nights come with the profile;
2. replays it with ``cxpulse replay --prometheus-data`` into a fresh Prometheus data folder,
   writing only the exported series the alerts read, directly or through recording rules
   (``--families`` with their names: the histograms' buckets are most of a large centre's
   samples and no alert reads them);
3. evaluates the recording rules the alerts read with ``query_range``, level by level (a rule
   that reads a recorded series waits for that series' level), and loads their points as
   blocks (one OpenMetrics file a day, through ``promtool tsdb create-blocks-from
   openmetrics``);
4. evaluates every alert expression of the shipped rules, and of the rules before targets,
   calendars and SLOs (bench/backtest-baseline.rules.yml), at every minute with ``query_range``,
   applying each alert's ``for:``;
5. counts, for both: incidents caught (an alert of severity page or warning for the
   incident's queue that starts firing after its onset, before it ends or within 30 minutes
   after, or for slow first replies within a day, as their late replies keep coming), minutes
   from onset to firing, false pages per week (pages matching no incident), pages while the
   queue was closed. An alert already firing when the incident begins does not catch it: nobody
   is told anything new; nor does an alert that fires more than once per queue and week with no
   incident (always on, it tells on-call nothing; it is listed as such).

Needs ``prometheus`` and ``promtool`` on PATH (Debian: apt install prometheus).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.business_hours import Calendar  # noqa: E402
from streams.simulator.centre_profiles import PROFILES  # noqa: E402
from streams.simulator.incidents import Incident, plan  # noqa: E402
from streams.simulator.traffic import Traffic  # noqa: E402

# The scored weeks end on this Monday: a fixed period in the past (Prometheus and promtool want
# history, not future), the same for every rerun, and clear of a change of summer time for
# 28 weeks before it (see docs/operations.md, seasonal baselines).
END_MONDAY = date(2026, 10, 19)
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
BASELINE = ROOT / "bench/backtest-baseline.rules.yml"
STEP = 60
AFTER = 30 * 60  # an alert firing this long after an incident ended still counts as catching it
ALERTING = ("page", "warning")  # severities that reach someone now
# An alert that fires more often than this without any incident, per queue and week, is always
# on: it tells on-call nothing, so it catches nothing here (it is still counted and listed).
NOISY_PER_QUEUE_WEEK = 1.0
SETTINGS = {
    # Replies to email are due within four hours here (the simulator's median is one hour).
    "CXPULSE_FIRST_RESPONSE_TARGET_SECONDS": "14400",
    "CXPULSE_EXPORT_WINDOWS": "[]",
    "CXPULSE_EXPORT_WINDOW_COUNTS": "false",
}


def say(text: str) -> None:
    print(text, flush=True)


def run(args: list[str], **kwargs: Any) -> str:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:4])} ... failed:\n{done.stderr[-3000:]}")
    return done.stdout


# --- Prometheus --------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, work: Path, data: Path) -> None:
        self.work, self.data, self.port = work, data, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        config = self.work / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1m}\n")
        log = open(self.work / "prometheus.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--query.max-samples=200000000",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        sys.exit(f"Prometheus did not start: see {self.work / 'prometheus.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None

    def range(self, expr: str, start: float, end: float) -> dict[frozenset, list[float]]:
        """Label set -> the evaluation times (every STEP) at which ``expr`` had a value."""
        return {labels: [t for t, _ in points] for labels, points in self.points(expr, start, end).items()}

    def points(self, expr: str, start: float, end: float) -> dict[frozenset, list[tuple[float, str]]]:
        """Label set -> ``(time, value)`` at every STEP at which ``expr`` had a value."""
        found: dict[frozenset, list[tuple[float, str]]] = {}
        chunk = 7 * 86400  # under Prometheus' 11 000 points a series
        at = start
        while at <= end:
            upto = min(end, at + chunk - STEP)
            query = urllib.parse.urlencode({"query": expr, "start": at, "end": upto, "step": STEP})
            reply = json.loads(
                urllib.request.urlopen(f"{self.url}/api/v1/query_range?{query}", timeout=600).read()
            )
            if reply["status"] != "success":
                sys.exit(f"query failed: {reply}\n{expr}")
            for series in reply["data"]["result"]:
                labels = frozenset((k, v) for k, v in series["metric"].items() if k != "__name__")
                found.setdefault(labels, []).extend((float(t), v) for t, v in series["values"])
            at = upto + STEP
        return found


# --- Rules -------------------------------------------------------------------------------------


def load_rules(paths: list[Path]) -> list[dict]:
    return [r for path in paths for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def reads(expr: str, recorded: Container[str]) -> set[str]:
    return {name for name in re.findall(r"[a-z_]+:[a-z0-9_:]+", expr) if name in recorded}


def alerts_read(rules: list[dict]) -> set[str]:
    """The recorded series the alerts read, directly or through other recordings."""
    records = {r["record"]: r for r in rules if "record" in r}
    needed: set[str] = set()
    pending = [n for r in rules if "alert" in r for n in reads(r["expr"], records)]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending += reads(records[name]["expr"], records)
    return needed


def exported_read(rules: list[dict]) -> list[str]:
    """The exported samples the alerts read, directly or through recordings: all the replay has
    to write for the backtest. The histograms' buckets, which only dashboards and quantile
    recordings read, are most of a large centre's samples."""
    records = {r["record"]: r for r in rules if "record" in r}
    exprs = [r["expr"] for r in rules if "alert" in r] + [records[n]["expr"] for n in alerts_read(rules)]
    return sorted({name for expr in exprs for name in re.findall(r"(?<![\w:])cxpulse_\w+", expr)})


def backfill_recordings(prometheus: Prometheus, rules: list[dict], start: float, end: float) -> None:
    """The recording rules the alerts read, level by level into the data folder: a rule that
    reads a recorded series waits for that series' level. Each rule is evaluated at every STEP
    with ``query_range`` and its points written as one OpenMetrics file per day, which promtool
    turns into one block each (``promtool tsdb create-blocks-from rules`` writes a block per rule
    and two hours, thousands for a month, which Prometheus then has to open and compact)."""
    records = {r["record"]: r for r in rules if "record" in r}
    needed = alerts_read(rules)
    done: set[str] = set()
    level = 0
    while needed - done:
        ready = [n for n in sorted(needed - done) if reads(records[n]["expr"], records) <= done]
        level += 1
        began = time.monotonic()
        days: dict[int, dict[str, list[tuple[str, float, str]]]] = {}
        # Prometheus evaluates one query on one core: two at a time keep both busy.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            answers = pool.map(lambda n: prometheus.points(records[n]["expr"], start, end), ready)
            evaluated = dict(zip(ready, answers, strict=True))
        for name in ready:
            extra = records[name].get("labels", {})
            for labels, points in evaluated[name].items():
                tags = {**dict(labels), **extra}
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(tags.items()))
                series = f"{name}{{{inner}}}" if inner else name
                for at, value in points:
                    days.setdefault(int(at // 86400), {}).setdefault(name, []).append((series, at, value))
        files = []
        for day, families in sorted(days.items()):
            path = prometheus.work / f"level-{level}-{day}.om"
            with open(path, "w") as out:
                for name, points in families.items():
                    out.write(f"# TYPE {name} gauge\n")
                    points.sort()  # one series' points together, in time order
                    out.writelines(f"{series} {value} {at:.0f}\n" for series, at, value in points)
                out.write("# EOF\n")
            files.append(path)
        prometheus.stop()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(partial(load_openmetrics, data=prometheus.data), files))
        for path in files:
            path.unlink()
        prometheus.start()
        done |= set(ready)
        say(f"  level {level}: {len(ready)} recording rules, {time.monotonic() - began:.0f} s")


def load_openmetrics(path: Path, data: Path) -> None:
    run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(data)])


def duration(text: str) -> float:
    found = re.fullmatch(r"(\d+)([smhd])", str(text))
    return 0.0 if not found else int(found[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]


@dataclass
class Firing:
    alert: str
    severity: str
    labels: dict[str, str]
    start: float  # when it fired (after its for:)
    end: float


def firings(prometheus: Prometheus, rules: list[dict], start: float, end: float) -> list[Firing]:
    """Each alert's firing episodes: runs of consecutive evaluations with a value, from the
    moment the run has lasted the alert's ``for:``."""
    out = []
    for rule in (r for r in rules if "alert" in r):
        hold = duration(rule.get("for", "0s"))
        for labels, times in prometheus.range(rule["expr"], start, end).items():
            times.sort()
            first = prev = times[0]
            for t in [*times[1:], None]:
                if t is not None and t - prev <= STEP:
                    prev = t
                    continue
                if prev - first >= hold:
                    out.append(
                        Firing(rule["alert"], rule["labels"]["severity"], dict(labels), first + hold, prev)
                    )
                if t is not None:
                    first = prev = t
    return out


# --- Scoring -----------------------------------------------------------------------------------


# How long an incident's effects outlast it: the late first replies of a slowdown keep arriving
# (as breaches) for about a day after the slowdown ends.
AFTERMATH = {"slow_replies": 24 * 3600.0}


def matches(firing: Firing, incident: Incident) -> bool:
    """The firing starts while the incident lasts or its effects show (or soon after), in its
    queue."""
    queue = firing.labels.get("queue")
    same_place = queue is None or incident.queue is None or queue == incident.queue
    until = incident.end + AFTERMATH.get(incident.kind, 0.0) + AFTER
    return same_place and incident.start <= firing.start <= until


def score(
    found: list[Firing], incidents: tuple[Incident, ...], calendar: Calendar, weeks: float, queues: int
) -> dict:
    unmatched: dict[str, int] = {}
    for f in found:
        if not any(matches(f, i) for i in incidents):
            unmatched[f.alert] = unmatched.get(f.alert, 0) + 1
    noisy = {alert for alert, n in unmatched.items() if n / (weeks * queues) > NOISY_PER_QUEUE_WEEK}
    caught, minutes = 0, []
    per_incident = []
    for incident in incidents:
        hits = sorted(
            (f for f in found if f.severity in ALERTING and f.alert not in noisy and matches(f, incident)),
            key=lambda f: f.start,
        )
        after = round((hits[0].start - incident.start) / 60, 1) if hits else None
        if after is not None:
            caught += 1
            minutes.append(after)
        per_incident.append(
            {
                "incident": incident.label,
                "queue": incident.queue,
                "minutes": after,
                "first": hits[0].alert if hits else None,
                "alerts": sorted({f.alert for f in hits}),
            }
        )
    pages = [f for f in found if f.severity == "page"]
    false = [f for f in pages if not any(matches(f, i) for i in incidents)]
    closed = [f for f in pages if not calendar.is_open(f.start)]
    return {
        "detected_ratio": round(caught / len(incidents), 3) if incidents else None,
        "median_detection_minutes": round(statistics.median(minutes), 1) if minutes else None,
        "false_pages_per_week": round(len(false) / weeks, 2),
        "pages_while_closed": len(closed),
        "incidents": per_incident,
        "always_on": sorted(noisy),
        "by_alert": {
            alert: {
                "firings": sum(1 for f in found if f.alert == alert),
                "false": sum(
                    1 for f in found if f.alert == alert and not any(matches(f, i) for i in incidents)
                ),
                "while_closed": sum(1 for f in found if f.alert == alert and not calendar.is_open(f.start)),
            }
            for alert in sorted({f.alert for f in found})
        },
    }


# --- The run -----------------------------------------------------------------------------------


def simulate(
    args: argparse.Namespace, name: str, work: Path
) -> tuple[Path, tuple[Incident, ...], Calendar, tuple[float, float, float], dict]:
    """The history: ``--warmup`` weeks that only give the seasonal baselines their past (as a
    centre that backfilled its history on install has it), then the scored weeks, with the
    incidents and a holiday in the last week (its Thursday, unless an incident falls on it)."""
    profile = PROFILES[name]
    assert profile.calendar is not None
    zone = profile.calendar.zone
    monday = datetime.combine(END_MONDAY, datetime.min.time(), zone) - timedelta(days=7 * args.weeks)
    first = monday - timedelta(days=7 * args.warmup)  # the first Monday of the warm-up
    start = (first - timedelta(days=1)).timestamp()  # from the Sunday before the warm-up
    scored = (monday - timedelta(days=1)).timestamp()
    end = scored + args.weeks * 7 * 86400
    incidents = plan(profile, scored, args.weeks)
    # A holiday in the last week: its Thursday, or the first other weekday without an incident.
    busy = {datetime.fromtimestamp(i.start, zone).date() for i in incidents}
    last = monday + timedelta(days=7 * (args.weeks - 1))
    holiday = next(
        day for day in (last.date() + timedelta(days=k) for k in (3, 2, 4, 1, 0)) if day not in busy
    )
    hours = {
        d: ",".join(f"{o.strftime('%H:%M')}-{c.strftime('%H:%M')}" for o, c in spans)
        for d, spans in (
            (["mon", "tue", "wed", "thu", "fri", "sat", "sun"][k], v)
            for k, v in profile.calendar.hours.items()
        )
    }
    doc = {"zone": str(zone), "hours": hours, "holidays": [holiday.isoformat()]}
    calendar = Calendar.parse(doc)
    profile = replace(profile, calendar=calendar)
    say(
        f"simulating the {name} centre: {args.warmup} weeks of history from {first.date()}, then "
        f"{args.weeks} weeks scored from {monday.date()} (holiday {holiday}), {len(incidents)} incidents ..."
    )
    history = work / "history.jsonl"
    count = 0
    with open(history, "wb") as out:
        for _, _, event in Traffic(start=start, seed=args.seed, profile=profile, incidents=incidents).until(
            end
        ):
            out.write(orjson.dumps(event) + b"\n")
            count += 1
    say(f"  {count} events")
    env = {**SETTINGS, "CXPULSE_BUSINESS_HOURS": json.dumps({"*": doc})}
    return history, incidents, calendar, (start, scored, end), env


def backtest(args: argparse.Namespace, name: str, work: Path) -> dict:
    """One centre's history simulated, replayed, loaded and judged: its figures for the shipped
    rules, and under ``baseline`` for the earlier ones."""
    history, incidents, calendar, (start, scored, end), env = simulate(args, name, work)
    say("replaying into Prometheus blocks ...")
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "replay",
            str(history),
            "--quiet",
            "--prometheus-data",
            str(data),
            "--blocks",
            str(work / "openmetrics"),
            "--families",
            ",".join(exported_read(load_rules([*RULES, BASELINE]))),
        ],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    shutil.rmtree(work / "openmetrics", ignore_errors=True)
    prometheus = Prometheus(work, data).start()
    try:
        current, baseline = load_rules(RULES), load_rules([BASELINE])
        say("backfilling the recording rules the alerts read ...")
        backfill_recordings(prometheus, current + baseline, start, end)
        say("evaluating the alerts at every minute ...")
        weeks = (end - scored) / (7 * 86400)
        queues = len(PROFILES[name].queues)
        figures = score(firings(prometheus, current, scored, end), incidents, calendar, weeks, queues)
        figures["baseline"] = score(
            firings(prometheus, baseline, scored, end), incidents, calendar, weeks, queues
        )
    finally:
        prometheus.stop()
    return figures


def combine(centres: dict[str, dict]) -> dict:
    """The figures of several centres as one: every incident counts once, false pages per week
    are those of the noisiest centre (the target is per centre)."""

    def overall(parts: list[dict]) -> dict:
        incidents = [i for p in parts for i in p["incidents"]]
        minutes = [i["minutes"] for i in incidents if i["minutes"] is not None]
        return {
            "detected_ratio": round(len(minutes) / len(incidents), 3) if incidents else None,
            "median_detection_minutes": round(statistics.median(minutes), 1) if minutes else None,
            "false_pages_per_week": max(p["false_pages_per_week"] for p in parts),
            "pages_while_closed": sum(p["pages_while_closed"] for p in parts),
        }

    figures = overall(list(centres.values()))
    figures["baseline"] = overall([c["baseline"] for c in centres.values()])
    figures["centres"] = centres
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=4, help="weeks scored (default 4)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="weeks of history before them, for the seasonal baselines (default 2)",
    )
    parser.add_argument(
        "--profiles",
        default="small,large",
        help="simulator profiles with opening hours, comma-separated (default: small,large)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="keep the histories and the Prometheus data here")
    args = parser.parse_args()
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (Debian and Ubuntu: apt install prometheus)")
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROFILES or PROFILES[n].calendar is None]
    if unknown or not names:
        usable = ", ".join(n for n, p in PROFILES.items() if p.calendar is not None)
        sys.exit(f"--profiles: {', '.join(unknown) or 'none given'}; profiles with opening hours: {usable}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="cxpulse-backtest-"))
    started = time.monotonic()
    centres = {}
    try:
        for name in names:
            work = root / name
            work.mkdir(parents=True, exist_ok=True)
            began = time.monotonic()
            centres[name] = backtest(args, name, work)
            centres[name]["seconds"] = round(time.monotonic() - began)
            report(centres[name], f"the {name} centre")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    figures = combine(centres)
    figures.update(
        weeks=args.weeks, warmup=args.warmup, profiles=names, seconds=round(time.monotonic() - started)
    )
    if len(names) > 1:
        summary(figures, f"all {len(names)} centres")
    say(f"\n({args.weeks} weeks of the {', '.join(names)} centres, {figures['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def report(figures: dict, title: str) -> None:
    base = figures["baseline"]
    say(f"\n{title}:\n{'incident':34} {'queue':10} {'caught after (min)':>18}  {'by':36} {'baseline':>8}")
    for new, old in zip(figures["incidents"], base["incidents"], strict=True):
        now, before = ("missed" if m is None else f"{m:g}" for m in (new["minutes"], old["minutes"]))
        say(f"{new['incident']:34} {new['queue'] or 'all':10} {now:>18}  {new['first'] or '':36} {before:>8}")
    summary(figures, title)
    say(f"\n{'alert':48} {'firings':>8} {'false':>6} {'closed':>7}")
    for alert, counts in figures["by_alert"].items():
        always = "  always on: catches nothing" if alert in figures["always_on"] else ""
        say(f"{alert:48} {counts['firings']:>8} {counts['false']:>6} {counts['while_closed']:>7}{always}")


def summary(figures: dict, title: str) -> None:
    base = figures["baseline"]
    say(f"\n{title + ':':32} {'rules':>10} {'baseline':>10}")
    for key, label in (
        ("detected_ratio", "incidents caught"),
        ("median_detection_minutes", "median minutes to alert"),
        ("false_pages_per_week", "false pages per week"),
        ("pages_while_closed", "pages while closed"),
    ):
        say(f"{label:32} {figures[key]!s:>10} {base[key]!s:>10}")


if __name__ == "__main__":
    main()
