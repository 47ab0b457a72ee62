"""A small real HTTP server speaking the agent side of docs/CONTRACTS.md.

It runs uvicorn in a thread on a fixed port so a test can stop it and start it again on
the same port, as an API restart looks to an agent. State (tokens, jobs, reports) lives
in `FakeApiState`, shared across restarts like a database would be.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

USERNAME = "pumice-agent"
PASSWORD = "agent-secret"
PROJECT = "service"


@dataclass
class FakeApiState:
    token_ttl: timedelta = timedelta(hours=1)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: set[str] = field(default_factory=set)
    auth_requests: int = 0
    auth_bodies: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    claimed: dict[int, dict[str, Any]] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Jobs whose lease "the reaper gave away": heartbeat and result answer 409.
    lost_leases: set[int] = field(default_factory=set)
    unauthorized: int = 0
    closing: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_job(
        self, kind: str, payload: dict[str, Any], *, backend: str, lease_seconds: float = 30
    ) -> int:
        with self.lock:
            job_id = next(self._ids)
            self.pending.append(
                {
                    "id": job_id,
                    "kind": kind,
                    "backend": backend,
                    "resource_type": "volume",
                    "resource_id": payload.get("volume", {}).get("id", ""),
                    "payload_version": 1,
                    "payload": payload,
                    "attempts": 0,
                    "lease_seconds": lease_seconds,
                }
            )
            return job_id

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def reports_for(self, host: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.reports if r["host"] == host]

    def heartbeats_for(self, job_id: int) -> int:
        with self.lock:
            return sum(1 for jid, _ in self.heartbeats if jid == job_id)


def build_app(state: FakeApiState) -> Starlette:
    def authorized(request: Request) -> bool:
        with state.lock:
            ok = request.headers.get("X-Auth-Token") in state.tokens
            if not ok:
                state.unauthorized += 1
            return ok

    def unauthorized() -> JSONResponse:
        message = "The request you have made requires authentication."
        return JSONResponse({"error": {"code": 401, "message": message}}, status_code=401)

    def lease_lost(job_id: int) -> JSONResponse:
        message = f"job {job_id} is leased to another agent"
        return JSONResponse({"conflict": {"code": 409, "message": message}}, status_code=409)

    async def tokens(request: Request) -> JSONResponse:
        body = await request.json()
        with state.lock:
            state.auth_requests += 1
            state.auth_bodies.append(body)
        password = body["auth"]["identity"]["password"]["user"]
        project = body["auth"]["scope"]["project"]["name"]
        if (password["name"], password["password"], project) != (USERNAME, PASSWORD, PROJECT):
            return unauthorized()
        token = secrets.token_hex(16)
        expires = datetime.now(UTC) + state.token_ttl
        with state.lock:
            state.tokens.add(token)
        answer = {"token": {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        return JSONResponse(answer, status_code=201, headers={"X-Subject-Token": token})

    async def capabilities(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        report = await request.json()
        with state.lock:
            state.reports.append(report)
        return JSONResponse({"accepted": True})

    async def claim(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        body = await request.json()
        with state.lock:
            state.claims.append(body)
        deadline = time.monotonic() + float(body["wait"])
        while True:
            with state.lock:
                for job in state.pending:
                    if job["backend"] in body["backends"]:
                        state.pending.remove(job)
                        job["attempts"] += 1
                        job["lease_expires_at"] = (
                            datetime.now(UTC).replace(tzinfo=None)
                            + timedelta(seconds=job["lease_seconds"])
                        ).isoformat()
                        state.claimed[job["id"]] = dict(job)
                        return JSONResponse({"job": job})
                closing = state.closing
            if closing or time.monotonic() >= deadline:
                return JSONResponse({"job": None})
            await asyncio.sleep(0.02)

    async def heartbeat(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        job_id = int(request.path_params["job_id"])
        body = await request.json()
        with state.lock:
            state.heartbeats.append((job_id, body))
            if job_id in state.lost_leases or job_id not in state.claimed:
                return lease_lost(job_id)
        return JSONResponse({"lease_expires_at": datetime.now(UTC).isoformat()})

    async def result(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        job_id = int(request.path_params["job_id"])
        body = await request.json()
        with state.lock:
            if job_id in state.lost_leases or job_id not in state.claimed:
                return lease_lost(job_id)
            state.results[job_id] = body
        return JSONResponse({"state": "succeeded" if body["ok"] else "failed"})

    return Starlette(
        routes=[
            Route("/identity/v3/auth/tokens", tokens, methods=["POST"]),
            Route("/agent/v1/capabilities", capabilities, methods=["POST"]),
            Route("/agent/v1/jobs/claim", claim, methods=["POST"]),
            Route("/agent/v1/jobs/{job_id:int}/heartbeat", heartbeat, methods=["POST"]),
            Route("/agent/v1/jobs/{job_id:int}/result", result, methods=["POST"]),
        ]
    )


class FakeApiServer:
    """uvicorn in a thread; stop() and start() again to simulate an API restart."""

    def __init__(self, state: FakeApiState, port: int) -> None:
        self.state = state
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.state.closing = False
        config = uvicorn.Config(
            build_app(self.state),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"fake-api-{self.port}", daemon=True)
        thread.start()
        _wait(lambda: server.started or not thread.is_alive(), timeout, "fake API to start")
        if not server.started:
            raise RuntimeError(f"fake API could not start on port {self.port}")
        self._server, self._thread = server, thread

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self.state.closing = True
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("fake API did not stop")
        self._server = self._thread = None


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)
