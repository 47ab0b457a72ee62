"""Health, readiness and metrics: what an operator's probes and Prometheus read."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.helpers import new_volume, report
from tests.conftest import Caller


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_readyz_waits_for_a_fresh_capability_report(
    client: httpx.AsyncClient, service: Caller
) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"]
    checks = r.json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"] == "ok"
    assert "no backend has reported" in checks["capability_reports"]
    await report(client, service)
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["status"]) == (200, "ready")


async def test_readyz_names_a_database_that_does_not_answer(
    app: FastAPI, client: httpx.AsyncClient, service: Caller
) -> None:
    await report(client, service)
    runtime = app.state.runtime
    working = runtime.engine
    unreachable = (
        "postgresql+asyncpg://nobody@127.0.0.1:1/none"
        if working.dialect.name == "postgresql"
        else "sqlite+aiosqlite:////nonexistent/folder/pumice.db"
    )
    runtime.engine = create_async_engine(unreachable)
    try:
        r = await client.get("/readyz")
    finally:
        await runtime.engine.dispose()
        runtime.engine = working
    assert r.status_code == 503
    assert r.json()["checks"]["database"] != "ok"  # the probe's finding, not a 500
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_show_requests_by_route_queue_pools_and_backends(
    client: httpx.AsyncClient, member: Caller, service: Caller
) -> None:
    await report(client, service)
    before = (await client.get("/metrics")).text
    claims_before = value(before, "pumice_claims_total", outcome="granted") or 0.0
    volume_id = await new_volume(client, member)
    await client.get(f"/v3/{member.project_id}/volumes/{volume_id}", headers=member.headers())
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    # Labelled by route template, never by the raw path with its ids.
    show = value(
        text,
        "pumice_http_request_duration_seconds_count",
        method="GET",
        route="/v3/{project_id}/volumes/{volume_id}",
        status="200",
    )
    assert show is not None and show >= 1
    assert volume_id not in text
    assert value(text, "pumice_claims_total", outcome="granted") == claims_before + 1
    assert (value(text, "pumice_scheduler_decision_seconds_count") or 0) >= 1
    assert value(text, "pumice_jobs", kind="create_volume", state="pending") == 1
    assert (
        value(text, "pumice_job_oldest_age_seconds", kind="create_volume", state="pending")
        is not None
    )
    pool = "node1@file#pool"
    assert value(text, "pumice_pool_capacity_gb", pool=pool, figure="allocated") == 1.0
    assert value(text, "pumice_backend_up", backend="node1@file") == 1.0
    assert value(text, "pumice_db_connections", engine="write", state="in_use") is not None
