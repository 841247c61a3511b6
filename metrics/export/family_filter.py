"""Which metric families a backfill writes: named sets, family names and patterns.

A backfill meant for the alert rules alone has no use for the windowed gauges the dashboards
show (a third of the samples); one meant for a single panel needs a family or two. Families are
chosen by the names in ``# TYPE`` lines (``cxpulse_calls_offered``; a counter's ``_total`` may
be given too), by shell patterns (``cxpulse_window_*``), or by a named set:

- ``rules``: every family the shipped alerting and recording rules read;
- ``dashboards``: every family the shipped dashboards read, directly or through a recorded series;
- ``all``: everything.

A set is taken to the sample: a histogram the set reads only the count and sum of (the mean
CES, the mean handle time) is written without its buckets, which would otherwise be a third of a
large centre's samples, each one dense around every change and read by nothing the set holds.
A family named or matched by a pattern is written whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from metrics.export.cadence import DASHBOARDS, RULES, read_by

SETS: dict[str, frozenset[str] | None] = {
    RULES: read_by(RULES),
    DASHBOARDS: read_by(DASHBOARDS),
    "all": None,  # None: every family
}


def sample_names(family: str, kind: str) -> tuple[str, ...]:
    """The names a family's samples carry."""
    if kind == "counter":
        return (family.removesuffix("_total") + "_total",)
    if kind == "histogram":
        return (family + "_bucket", family + "_count", family + "_sum")
    return (family,)


class FamilyFilter:
    """``include`` (default: everything) minus ``exclude``; each item a set, a name or a pattern."""

    def __init__(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> None:
        self._include = [item.strip() for item in include if item.strip()]
        self._exclude = [item.strip() for item in exclude if item.strip()]
        self._used: set[str] = set()

    def __call__(self, family: str, kind: str) -> bool:
        names = sample_names(family, kind)
        # Every item is tried (no short cut), so each one that names a family counts as used.
        included = [self._matches(item, family, names) for item in self._include]
        excluded = [self._matches(item, family, names) for item in self._exclude]
        return (not included or any(included)) and not any(excluded)

    def _matches(self, item: str, family: str, names: tuple[str, ...]) -> bool:
        if item in SETS:
            members = SETS[item]
            found = members is None or any(name in members for name in names)
        else:
            found = any(fnmatchcase(name, item) for name in (family, *names))
        if found:
            self._used.add(item)
        return found

    def buckets(self, family: str) -> bool:
        """Whether a histogram ``family`` this filter keeps is written with its buckets: unless
        the only items that include it are sets that read its count and sum alone."""
        if not self._include:
            return True
        names = sample_names(family, "histogram")
        for item in self._include:
            if item in SETS:
                members = SETS[item]
                if members is None or names[0] in members:
                    return True
            elif any(fnmatchcase(name, item) for name in (family, *names)):
                return True
        return False

    def unmatched(self) -> list[str]:
        """The items given that matched no family seen so far (a typo, most likely)."""
        return [item for item in (*self._include, *self._exclude) if item not in self._used]
