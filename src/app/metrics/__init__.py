"""Prometheus metrics: `GET /metrics`, the worker's endpoint, and the figures behind them
(README.md, "Metrics"). Optional: delete this package, tests/metrics and its line in
app/domains.py, and nothing is counted or served."""
