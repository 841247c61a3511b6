"""How well cxpulse forecasts arrivals per interval, against the baselines every forecast must beat.

    python bench/forecast.py                        # the small centre, four weeks learnt, one scored
    python bench/forecast.py --profile large --interval 900

Simulates ``--weeks`` weeks of a centre (``streams/simulator``), counts new contacts (tickets
created and calls offered) per queue and local interval, and forecasts each interval of the
last week from the weeks before it, three ways:

- *seasonal naive*: the same interval a week earlier;
- *mean of weeks*: the mean of the same interval over the learnt weeks (holidays left out);
- *cxpulse*: that mean, with the rest of each day scaled by how the day ran up to the interval
  (``metrics/forecast.py``; the forecast made at the start of each interval).

Prints WAPE (Σ|actual − forecast| ÷ Σ actual) per queue and overall: lower is better. Where
statsforecast is installed (it is not a cxpulse dependency: ``uv pip install statsforecast``), a
fourth column: its MSTL model (daily and weekly seasonality, AutoETS on the rest) fitted on the
same weeks, forecasting the scored week at its start. Then the
same week again with a surge on its Wednesday (every interval half as busy again: a campaign, an
outage), scored from an hour after opening — once today's correction has seen the first hour —
as the day's forecast over its actual contacts; and the staffing error: agents Erlang C asks for
on the calls forecast (the same method over the calls alone) against those it asks for on the
calls that came (mean absolute
difference per open interval; handle time 287 s, the simulator's mean).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.forecast import Counts, Forecaster, seasonal_naive, wape  # noqa: E402
from metrics.staffing import offered_erlangs, required_agents  # noqa: E402
from streams.simulator.centre_profiles import PROFILES  # noqa: E402
from streams.simulator.traffic import Traffic  # noqa: E402

ARRIVALS = ("ticket.created", "call.queued")
END_MONDAY = datetime(2026, 10, 19)  # a fixed period, so runs compare
SURGE = 1.5  # the surge day's contacts, times a usual day's
HANDLE_SECONDS = 287.0  # the simulator's mean handle time (lognormal, median 240 s, σ 0.6)


def made_at_each_start(
    forecaster: Forecaster, learnt: Counts, history: Counts, grid: list[float]
) -> list[float]:
    """Each interval's forecast as made at its start, today's intervals before it known."""
    out = []
    for s in grid:
        known = {**learnt, **{t: history[t] for t in grid if t < s}}
        out.append(forecaster.forecast(known, s, 1)[0][1] or 0.0)
    return out


def statsforecast_week(learnt: list[float], horizon: int, season_day: int) -> list[float] | None:
    """The week after ``learnt`` (equally spaced counts) by statsforecast's MSTL (daily and weekly
    seasonality, AutoETS on the rest), made once at the week's start; None without statsforecast."""
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:
        return None
    frame = pd.DataFrame({"unique_id": "q", "ds": pd.RangeIndex(len(learnt)), "y": learnt})
    model = MSTL(season_length=[season_day, season_day * 7], trend_forecaster=AutoETS(model="ZZN"))
    predicted = StatsForecast(models=[model], freq=1).forecast(df=frame, h=horizon)
    return [max(0.0, float(v)) for v in predicted["MSTL"]]


def agents(calls: float, interval: int) -> int:
    if calls <= 0:
        return 0
    return required_agents(
        offered_erlangs(calls, interval, HANDLE_SECONDS), HANDLE_SECONDS, 0.8, 20.0, 0.85
    ).agents


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="small", choices=[n for n, p in PROFILES.items() if p.calendar])
    parser.add_argument(
        "--weeks", type=int, default=5, help="weeks simulated; the last is scored (default 5)"
    )
    parser.add_argument(
        "--interval", type=int, default=1800, help="interval length in seconds (default 1800)"
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.weeks < 2:
        parser.error("--weeks must be at least 2: one to learn from, one to score")
    profile = PROFILES[args.profile]
    assert profile.calendar is not None
    zone = profile.calendar.zone
    end = END_MONDAY.replace(tzinfo=zone).timestamp()
    start = (END_MONDAY.replace(tzinfo=zone) - timedelta(weeks=args.weeks)).timestamp()
    scored_from = end - 7 * 86400
    forecaster = Forecaster(
        zone, interval_seconds=args.interval, weeks=args.weeks - 1, calendar=profile.calendar
    )

    began = time.monotonic()
    print(f"simulating {args.weeks} weeks of the {args.profile} centre ...", flush=True)
    counts: dict[str, dict[float, float]] = {queue: {} for queue in profile.queues}
    calls: dict[str, dict[float, float]] = {queue: {} for queue in profile.queues}
    events = 0
    for _, _, event in Traffic(start=start, seed=args.seed, profile=profile).until(end):
        events += 1
        if event["type"] in ARRIVALS:
            at = datetime.fromisoformat(event["occurred_at"]).timestamp()
            slot = forecaster.interval_start(at)
            counts[event["queue"]][slot] = counts[event["queue"]].get(slot, 0.0) + 1
            if event["type"] == "call.queued":
                calls[event["queue"]][slot] = calls[event["queue"]].get(slot, 0.0) + 1
    print(f"  {events} events in {time.monotonic() - began:.0f} s", flush=True)

    surge_day = (END_MONDAY - timedelta(days=5)).date()  # the scored week's Wednesday
    opened = profile.calendar.hours[surge_day.weekday()][0][0]
    scored_surge = datetime.combine(surge_day, opened, zone).timestamp() + 3600
    day_end = datetime.combine(surge_day + timedelta(days=1), datetime.min.time(), zone).timestamp()
    rows = []
    methods = ("naive", "mean", "cxpulse", "statsforecast")
    totals: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in methods}
    library_seconds = 0.0
    surge_actual = surge_forecast = usual_forecast = 0.0
    agent_errors: list[int] = []
    for queue, history in counts.items():
        grid = []
        slot = forecaster.interval_start(start)
        while slot < end:
            history.setdefault(slot, 0.0)  # an interval nobody contacted is a zero, not unknown
            if slot >= scored_from:
                grid.append(slot)
            slot = forecaster.next_start(slot)
        actual = [history[s] for s in grid]
        learnt = {s: c for s, c in history.items() if s < scored_from}
        naive = [seasonal_naive(forecaster, learnt, s) for s in grid]
        mean = [forecaster.baseline(learnt, s) or 0.0 for s in grid]
        ours = made_at_each_start(forecaster, learnt, history, grid)
        fitted = time.monotonic()
        library = statsforecast_week(
            [history[s] for s in sorted(learnt)], len(grid), round(86400 / args.interval)
        )
        library_seconds += time.monotonic() - fitted
        rows.append(
            (
                queue,
                sum(actual),
                wape(actual, naive),
                wape(actual, mean),
                wape(actual, ours),
                None if library is None else wape(actual, library),
            )
        )
        for name, values in (("naive", naive), ("mean", mean), ("cxpulse", ours), ("statsforecast", library)):
            if values is None:
                continue
            totals[name][0].extend(actual)
            totals[name][1].extend(values)
        # The surge day: the same week, Wednesday's intervals half as busy again.
        surged = dict(history)
        for s in grid:
            if datetime.fromtimestamp(s, zone).date() == surge_day:
                surged[s] = history[s] * SURGE
        made = made_at_each_start(forecaster, learnt, surged, grid)
        for s, forecast, usual in zip(grid, made, mean, strict=True):
            if scored_surge <= s < day_end:
                surge_actual += surged[s]
                surge_forecast += forecast
                usual_forecast += usual
        # Staffing: the calls forecast the same way, against the calls that came.
        came = {s: calls[queue].get(s, 0.0) for s in history}
        forecast_calls = made_at_each_start(
            forecaster, {s: c for s, c in came.items() if s < scored_from}, came, grid
        )
        for s, forecast in zip(grid, forecast_calls, strict=True):
            if profile.is_open(s):
                agent_errors.append(abs(agents(forecast, args.interval) - agents(came[s], args.interval)))

    minutes, learnt_weeks = args.interval // 60, args.weeks - 1
    print(f"\nWAPE of the last week, {minutes}-minute intervals, learnt from {learnt_weeks} weeks:")
    header = f"{'queue':16} {'contacts':>9} {'seasonal naive':>15} {'mean of weeks':>14} {'cxpulse':>8}"
    print(header + ("  statsforecast MSTL" if rows[0][5] is not None else ""))
    for queue, contacts, a, b, c, d in rows:
        library = "" if d is None else f"{d:19.3f}"
        print(f"{queue:16} {contacts:9.0f} {a:15.3f} {b:14.3f} {c:8.3f}{library}")
    overall = {name: wape(*pair) for name, pair in totals.items() if pair[0]}
    everything = sum(r[1] for r in rows)
    naive, mean, ours = overall["naive"], overall["mean"], overall["cxpulse"]
    library = f"{overall['statsforecast']:19.3f}" if "statsforecast" in overall else ""
    print(f"{'all queues':16} {everything:9.0f} {naive:15.3f} {mean:14.3f} {ours:8.3f}{library}")
    if "statsforecast" in overall:
        print(f"(statsforecast: fitted once per queue at the week's start, {library_seconds:.1f} s in all)")
    print(f"cxpulse against seasonal naive: {1 - ours / naive:.1%} lower")
    print(
        f"\nsurge day ({surge_day:%a %d %b}, contacts x{SURGE}), from an hour after opening: "
        f"{surge_actual:.0f} came; cxpulse forecast {surge_forecast:.0f} "
        f"({surge_forecast / surge_actual - 1:+.1%}), mean of weeks {usual_forecast:.0f} "
        f"({usual_forecast / surge_actual - 1:+.1%})"
    )
    err = sum(agent_errors) / len(agent_errors)
    print(
        f"staffing error: agents for the forecast calls against the calls that came, "
        f"{err:.2f} agents per open interval on average (Erlang C, 80 % in 20 s)"
    )


if __name__ == "__main__":
    main()
