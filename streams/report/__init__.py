"""``cxpulse report``: the interval report (one row per queue per 15 or 30 minutes of local time)
as CSV and as a self-contained HTML page, from a Prometheus server or a history file. Imports
``metrics/``, the replay and settings."""
