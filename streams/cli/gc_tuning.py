"""Garbage-collector settings for processes that hold a lot of KPI state.

A worker or a replay keeps every open ticket, call and customer as plain dicts and lists:
hundreds of thousands of long-lived containers. With CPython's default thresholds the
young-generation collector runs every 700 new containers and keeps re-walking survivors;
on a replayed day that is a third of the run time. KPI state holds no reference cycles
(dicts of numbers and strings, freed by reference counting), so collecting less often costs
no memory worth counting.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000


def tune_gc() -> None:
    """Collect the young generation every 100 000 new containers instead of every 700."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, max(middle, 50), max(old, 100))
