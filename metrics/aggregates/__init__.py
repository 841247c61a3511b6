"""What KPI facts are counted into, as plain dicts that fit a Faust table and its changelog.

- ``queue``: a queue and channel's totals, histograms, backlog and event-time buckets;
- ``windows``: sums, ratios, means and quantiles of the buckets in a rolling window;
- ``customers``: the customer base and its daily and monthly retention and churn;
- ``labels``: the cap on queue and channel values, past which facts count under ``other``;
- ``view``: a read-only view of an aggregate for summaries (the CLI reads this, not the dicts).

Imports ``definitions`` only.
"""
