"""What an agent tells Prometheus, on `metrics_address` of its config when set: the jobs
it ran by kind and outcome and how long they took, and its capability reports."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

JOBS = Counter(
    "pumice_agent_jobs",
    "Jobs this agent ran, by kind and outcome (succeeded, failed, abandoned: the lease "
    "was lost and the API gives the job to another attempt).",
    ("kind", "outcome"),
)
JOB_SECONDS = Histogram(
    "pumice_agent_job_seconds",
    "Time a job's handler ran, by kind.",
    ("kind",),
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0),
)
REPORTS = Counter(
    "pumice_agent_reports",
    "Capability reports sent, by answer: accepted, refused (the API held a newer one) "
    "or error (the API refused the report or could not be reached).",
    ("answer",),
)


def serve(address: str) -> None:
    """Expose the metrics over HTTP on 'host:port' (a daemon thread)."""
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
