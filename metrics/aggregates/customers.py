"""The customer base: lifecycle facts per UTC day and month, and the retention and churn they give.

Customer lifecycle facts (joined, churned) are not per queue: they go to one aggregate, which
keeps per-day and per-month counts next to its totals so that the current and previous
period's retention (CRR) and churn can be read at any moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

from metrics.documents import Aggregate

# Daily customer-base counts are kept this long; older days fold into one running total.
DAYS_KEPT = 62


def count_period(agg: Aggregate, at: float, counts: dict[str, int]) -> None:
    moment = datetime.fromtimestamp(at, UTC)
    for table, key in (("days", moment.strftime("%Y-%m-%d")), ("months", moment.strftime("%Y-%m"))):
        row = agg[table].setdefault(key, {})
        for name, n in counts.items():
            row[name] = row.get(name, 0) + n
    days = agg["days"]
    if len(days) > DAYS_KEPT:
        for key in sorted(days)[: len(days) - DAYS_KEPT]:
            row = days.pop(key)
            agg["before_days"] += row.get("customers_joined", 0) - row.get("customers_churned", 0)


def _net(row: dict[str, int]) -> int:
    return row.get("customers_joined", 0) - row.get("customers_churned", 0)


def customer_periods(agg: Aggregate, now: float, base: int) -> dict[str, tuple[float, float]]:
    """Retention and churn ratios of the current and previous day and month (UTC).

    CRR = (CE − CN) ÷ CS and churn = churned ÷ CS, where CS is the customer count at the
    period's start, CN the customers who joined in it and CE the count at its end (or now).
    A period that started with no customers has neither.
    """
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.strftime("%Y-%m-%d")
    yesterday = datetime.fromtimestamp(now - 86400, UTC).strftime("%Y-%m-%d")
    month = moment.strftime("%Y-%m")
    previous_month = f"{moment.year - 1}-12" if moment.month == 1 else f"{moment.year}-{moment.month - 1:02d}"
    out: dict[str, tuple[float, float]] = {}
    for label, table, key, start_base in (
        ("day", "days", day, base + agg["before_days"]),
        ("previous_day", "days", yesterday, base + agg["before_days"]),
        ("month", "months", month, base),
        ("previous_month", "months", previous_month, base),
    ):
        rows = agg[table]
        start = start_base + sum(_net(r) for k, r in rows.items() if k < key)
        row = rows.get(key, {})
        joined, churned = row.get("customers_joined", 0), row.get("customers_churned", 0)
        if start > 0:
            end = start + joined - churned
            out[label] = ((end - joined) / start, churned / start)
    return out


def active_customers(agg: Aggregate, base: int) -> int:
    totals = agg["totals"]
    return base + totals.get("customers_joined", 0) - totals.get("customers_churned", 0)
