"""The instruments the service keeps as it works: request latency, scheduler decision
time, claims on the pools' ledgers. Gauges of shared state (the job queue, the pools,
the agents) are read at scrape time instead (`app/api/telemetry.py`), so every replica
reports the same figures for them.

Module-level, on prometheus-client's default registry, as the library intends: one
service per process. Imports nothing of the service, so the scheduler (pure) and the
domain may use it."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Request latencies span a cached GET (ms) to a create waiting on a claim (s).
REQUEST_SECONDS = Histogram(
    "pumice_http_request_duration_seconds",
    "Time from a request's arrival to its response, by route template and status.",
    ("method", "route", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DECISION_SECONDS = Histogram(
    "pumice_scheduler_decision_seconds",
    "Time the scheduler took to filter and weigh the pools for one placement.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
CLAIMS = Counter(
    "pumice_claims",
    "Guarded claims on pool ledgers by outcome: granted, or refused (the room was taken "
    "first by another request, or the pool no longer fits).",
    ("outcome",),
)


def claimed(granted: bool) -> None:
    CLAIMS.labels("granted" if granted else "refused").inc()
