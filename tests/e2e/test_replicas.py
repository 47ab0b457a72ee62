"""Three API replicas on one PostgreSQL, three agents each reporting to a different
replica, and 300 concurrent creates against pools that cannot hold them all.

Everything runs as real processes started through the real CLI (`pumice db upgrade`,
`pumice project|user|role`, `pumice serve`, `pumice agent`). The claims must be exact:
every pool fills to its limit (docs/CONTRACTS.md, "Capacity and claims") and no
further, every rejected request ends in `error` with a user message, and the claim
ledgers, the quota usage and the files on disk all agree with the live volumes, both
when the pools are full and after every volume is deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.models import Backend, Job, Pool
from tests.conftest import _pg_available, _pg_exec, _pg_url, free_port, need

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
VOLUMES = 300
REPLICAS = 3
MESSAGES_VERSION = {"OpenStack-API-Version": "volume 3.3"}
T = TypeVar("T")


@dataclass(frozen=True)
class PoolSpec:
    """One agent's single file backend, and the claim limit its report must give."""

    capacity_gb: int
    thin: bool
    reserved_percentage: int = 0
    max_over_subscription_ratio: float = 20.0

    def limit_gb(self) -> float:
        """limit = A + vf_report for a thin-type request (the default type does not ask
        for thick) on a fresh pool: A = provisioned = 0, free = capacity. Thick pool:
        vf = min(free, T - reserved - P); thin pool: vf = (T - reserved) * mosr - P,
        reserved = floor(T * reserved% / 100) (docs/CONTRACTS.md, Cinder's filter).
        Creating volumes moves A, P and free together, so the limit stays put."""
        usable = self.capacity_gb - math.floor(self.capacity_gb * self.reserved_percentage / 100)
        if self.thin:
            return usable * self.max_over_subscription_ratio
        return float(min(self.capacity_gb, usable))

    def toml(self) -> str:
        return (
            f"capacity_gb = {self.capacity_gb}\n"
            f"thin = {'true' if self.thin else 'false'}\n"
            f"reserved_percentage = {self.reserved_percentage}\n"
            f'max_over_subscription_ratio = "{self.max_over_subscription_ratio}"\n'
        )


POOLS = (
    PoolSpec(40, thin=False),  # thick: 40
    PoolSpec(30, thin=False, reserved_percentage=10),  # thick, 3 GB reserved: 27
    PoolSpec(20, thin=True, max_over_subscription_ratio=2.0),  # thin, 20 x 2.0: 40
)


def toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


# --- processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process whose stdout and stderr go to a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def stop_all(procs: list[Proc], grace: float = 15.0) -> None:
    """SIGTERM every process at once, then SIGKILL whatever outlives the grace."""
    running = [p.process for p in procs if p.alive() and p.process is not None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Cluster:
    tmp: Path
    db_url: str
    env: dict[str, str]
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    agent_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    tenant_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    replicas: list[Proc] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    agents: list[Proc] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    @property
    def pool_keys(self) -> list[str]:
        return [f"node{i}@file{i}#file{i}" for i in range(1, len(POOLS) + 1)]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "pumice"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        assert done.returncode == 0, f"pumice {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def dump_logs(self) -> None:
        for proc in [*self.replicas, *self.agents]:
            state = "running" if proc.alive() else f"exited {proc.process and proc.process.poll()}"
            print(f"\n===== {proc.name} ({state}): {proc.log} =====\n{proc.output()[-20000:]}")

    def assert_quiet_logs(self) -> None:
        """No process logged an error or a traceback (a 500, a crashed background loop)."""
        for proc in [*self.replicas, *self.agents]:
            noisy = [
                line
                for line in proc.output().splitlines()
                if "Traceback" in line
                or '"level": "error"' in line
                or '"level": "critical"' in line
                or "[error" in line
                or "[critical" in line
            ]
            assert not noisy, f"{proc.name} logged errors: {noisy[:5]}"

    @contextlib.contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.dump_logs()
            raise

    # -- start-up ---------------------------------------------------------------------

    def create_identities(self) -> None:
        self.cli("project", "create", "admin")
        self.cli("user", "create", "admin", "--password", self.admin_password, "--project", "admin")
        self.cli("role", "add", "admin", "admin", "admin")
        self.cli("project", "create", "service")
        self.cli(
            "user", "create", "agent", "--password", self.agent_password,
            "--project", "service", "--role", "service",
        )  # fmt: skip
        self.cli("project", "create", "tenant")
        self.cli(
            "user", "create", "tenant", "--password", self.tenant_password,
            "--project", "tenant", "--role", "member",
        )  # fmt: skip

    def start_replicas(self) -> None:
        for i in range(1, REPLICAS + 1):
            port = free_port()
            env = {**self.env, "PUMICE_DATA_DIR": str(self.tmp / f"replica{i}")}
            proc = Proc(
                f"replica{i}",
                [str(BIN / "pumice"), "serve", "--port", str(port)],
                env,
                self.tmp / f"replica{i}.log",
            )
            self.ports.append(port)
            self.replicas.append(proc)
            proc.start()
        for proc, url in zip(self.replicas, self.urls, strict=True):
            wait_sync(
                functools.partial(_answers, proc, f"{url}/v3/"),
                f"{proc.name} to answer GET /v3/",
                # A bound, not a measure: a start took over 60 s on a loaded machine.
                240,
            )

    def start_agents(self) -> None:
        for i, (spec, url) in enumerate(zip(POOLS, self.urls, strict=True), start=1):
            folder = self.tmp / f"backend{i}"
            self.folders.append(folder)
            config = self.tmp / f"agent{i}.toml"
            config.write_text(
                f"""[agent]
api_url = {toml_str(url)}
host = "node{i}"
availability_zone = "nova"
report_interval = 2
claim_wait = 5
retry_max_interval = 1
shutdown_grace = 3
max_concurrent_jobs = 8
state_dir = {toml_str(self.tmp / f"agent{i}-state")}

[auth]
username = "agent"
password = {toml_str(self.agent_password)}
project_name = "service"

[[backends]]
name = "file{i}"
driver = "file"
path = {toml_str(folder)}
{spec.toml()}"""
            )
            proc = Proc(
                f"agent{i}",
                [str(BIN / "pumice"), "agent", "--config", str(config)],
                {**self.env, "PYTHONUNBUFFERED": "1"},
                self.tmp / f"agent{i}.log",
            )
            self.agents.append(proc)
            proc.start()


def _answers(proc: Proc, url: str) -> bool:
    assert proc.alive(), f"{proc.name} exited:\n{proc.output()}"
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_sync(condition: Callable[[], bool], what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit} s waiting for {what}")
        time.sleep(0.2)


async def wait_for(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, limit: float
) -> T:
    """Poll `probe` until `done(value)`; the last value, or an error after `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit} s waiting for {what}; last: {value}")
        await asyncio.sleep(0.3)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    name = f"pumice_e2e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
    env.update(
        PUMICE_DATABASE_URL=_pg_url(name),
        PUMICE_SERVICE_DOWN_TIME="60",
        PUMICE_DATA_DIR=str(tmp_path / "data"),
        # Replicas keep data directories of their own: the shared setting is what lets
        # each verify the tokens of the others.
        PUMICE_TOKEN_KEYS=f"{secrets.token_urlsafe(48)},{secrets.token_urlsafe(48)}",
    )
    c = Cluster(tmp_path, _pg_url(name), env)
    try:
        with c.logs_on_failure():
            c.cli("db", "upgrade")
            c.create_identities()
            c.start_replicas()
            c.start_agents()
        yield c
    finally:
        stop_all(c.agents)
        stop_all(c.replicas)
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- talking to the replicas --------------------------------------------------------------


@dataclass
class Caller:
    token: str
    project_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


async def login(client: httpx.AsyncClient, url: str, user: str, password: str) -> Caller:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": user, "domain": {"id": "default"}}},
        }
    }
    r = await client.post(f"{url}/identity/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    return Caller(r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"])


async def get_json(client: httpx.AsyncClient, url: str, caller: Caller, **headers: str) -> Any:
    r = await client.get(url, headers={**caller.headers, **headers})
    assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text}"
    return r.json()


async def pools_on(client: httpx.AsyncClient, url: str, admin: Caller) -> dict[str, Any]:
    """get_pools?detail=true on one replica: pool name -> capabilities."""
    body = await get_json(
        client, f"{url}/v3/{admin.project_id}/scheduler-stats/get_pools?detail=true", admin
    )
    return {p["name"]: p["capabilities"] for p in body["pools"]}


async def all_volumes(
    client: httpx.AsyncClient, url: str, admin: Caller, tenant: Caller
) -> list[dict[str, Any]]:
    """Every volume of the tenant in detail, as the admin (who sees the host)."""
    body = await get_json(
        client,
        f"{url}/v3/{admin.project_id}/volumes/detail"
        f"?all_tenants=1&project_id={tenant.project_id}&limit=1000",
        admin,
    )
    volumes: list[dict[str, Any]] = body["volumes"]
    assert "volumes_links" not in body, "one page holds them all"
    return volumes


async def quota_usage(
    client: httpx.AsyncClient, url: str, admin: Caller, tenant: Caller
) -> dict[str, int]:
    body = await get_json(
        client, f"{url}/v3/{admin.project_id}/os-quota-sets/{tenant.project_id}?usage=true", admin
    )
    quota = body["quota_set"]
    return {k: quota[k]["in_use"] for k in ("volumes", "gigabytes")}


async def ledgers(db_url: str) -> dict[str, dict[str, float]]:
    """Straight from the database: pool key -> its claim ledger and limits."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    Backend.host,
                    Pool.name,
                    Pool.allocated_gb,
                    Pool.reported_allocated_gb,
                    Pool.limit_gb,
                    Pool.limit_thick_gb,
                ).join(Backend, Pool.backend_id == Backend.id)
            )
            return {
                f"{host}#{name}": {
                    "allocated": allocated,
                    "reported": reported,
                    "limit": limit,
                    "limit_thick": limit_thick,
                }
                for host, name, allocated, reported, limit, limit_thick in rows
            }
    finally:
        await engine.dispose()


async def job_states(db_url: str) -> Counter[tuple[str, str]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(Job.kind, Job.state))
            return Counter((kind, state) for kind, state in rows)
    finally:
        await engine.dispose()


def volume_files(folder: Path) -> set[str]:
    return {p.name.removeprefix("volume-") for p in folder.glob("volume-*")}


# --- the test ------------------------------------------------------------------------------


async def test_replicas_never_oversubscribe_under_concurrent_creates(cluster: Cluster) -> None:
    with cluster.logs_on_failure():
        await _scenario(cluster)


async def _scenario(cluster: Cluster) -> None:
    urls, keys = cluster.urls, cluster.pool_keys
    limits = {key: spec.limit_gb() for key, spec in zip(keys, POOLS, strict=True)}
    capacity = int(sum(limits.values()))
    assert capacity < VOLUMES, "the pools must not hold every request"
    timeout = httpx.Timeout(120, connect=30)
    # No keep-alive: uvicorn closes a connection idle for 5 s, and reusing one just as it
    # does fails the request (a client-side race, not the server's answer).
    http_limits = httpx.Limits(max_connections=VOLUMES, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=timeout, limits=http_limits) as client:
        admin = await login(client, urls[0], "admin", cluster.admin_password)
        tenant = await login(client, urls[0], "tenant", cluster.tenant_password)
        # Quota must not be what stops the creates: only capacity does.
        r = await client.put(
            f"{urls[1]}/v3/{admin.project_id}/os-quota-sets/{tenant.project_id}",
            headers=admin.headers,
            json={"quota_set": {"volumes": -1, "gigabytes": -1}},
        )
        assert r.status_code == 200, r.text

        # Every replica sees the three backends, each reported to a different replica.
        for url in urls:
            await wait_for(
                functools.partial(pools_on, client, url, admin),
                lambda pools: sorted(pools) == keys,
                f"three pools on {url}",
                60,
            )
        before = await ledgers(cluster.db_url)
        for key in keys:
            assert before[key]["allocated"] == 0
            assert before[key]["limit"] == limits[key], (key, before[key])

        # 300 concurrent creates of 1 GB, round-robin over the replicas.
        started = time.monotonic()

        async def create(i: int) -> httpx.Response:
            return await client.post(
                f"{urls[i % REPLICAS]}/v3/{tenant.project_id}/volumes",
                headers=tenant.headers,
                json={"volume": {"size": 1, "name": f"v{i:03d}"}},
            )

        responses = await asyncio.gather(*(create(i) for i in range(VOLUMES)))
        create_seconds = time.monotonic() - started
        refused = [(r.status_code, r.text[:300]) for r in responses if r.status_code != 202]
        assert not refused, f"{len(refused)} creates not accepted, e.g. {refused[:5]}"
        ids = {r.json()["volume"]["id"] for r in responses}
        assert len(ids) == VOLUMES

        # No volume stays in `creating`: the agents make the files.
        volumes = await wait_for(
            functools.partial(all_volumes, client, urls[2], admin, tenant),
            lambda vs: not any(v["status"] == "creating" for v in vs),
            "every create to finish",
            120,
        )
        settle_seconds = time.monotonic() - started
        print(
            f"\n{VOLUMES} creates answered in {create_seconds:.1f} s, "
            f"settled in {settle_seconds:.1f} s"
        )
        assert {v["id"] for v in volumes} == ids
        statuses = Counter(v["status"] for v in volumes)
        assert statuses == {"available": capacity, "error": VOLUMES - capacity}, statuses

        # Each rejected request says why, in a user message about its volume.
        errors = {v["id"] for v in volumes if v["status"] == "error"}
        body = await get_json(
            client,
            f"{urls[1]}/v3/{tenant.project_id}/messages?limit=1000",
            tenant,
            **MESSAGES_VERSION,
        )
        messages: dict[str, list[str]] = {}
        for m in body["messages"]:
            messages.setdefault(m["resource_uuid"], []).append(m["user_message"])
        assert set(messages) == errors, "a message for each error volume, and only for them"
        for volume_id in errors:
            assert all(messages[volume_id]), volume_id
            assert any("No valid backend" in text for text in messages[volume_id]), messages[
                volume_id
            ]
        texts = Counter(text for texts in messages.values() for text in texts)
        print("user messages:", dict(texts))
        for v in volumes:
            if v["status"] == "error":
                assert v["os-vol-host-attr:host"] is None, v  # never placed, nothing claimed

        # Per pool: at its limit exactly, the ledger is the live volumes, the files match.
        placed: dict[str, set[str]] = {key: set() for key in keys}
        for v in volumes:
            if v["status"] == "available":
                assert v["size"] == 1
                placed[v["os-vol-host-attr:host"]].add(v["id"])
        full = await ledgers(cluster.db_url)
        for key, folder in zip(keys, cluster.folders, strict=True):
            pool = full[key]
            assert pool["limit"] == limits[key], (key, pool)
            assert pool["allocated"] <= pool["limit"], (key, pool)
            assert pool["allocated"] == len(placed[key]), (key, pool, len(placed[key]))
            assert pool["allocated"] == limits[key], (key, pool)
            assert volume_files(folder) == placed[key], key
        print("placed per pool:", {key: len(ids) for key, ids in placed.items()})
        for url in urls:  # each replica's cache follows the ledgers
            await wait_for(
                functools.partial(pools_on, client, url, admin),
                lambda pools: all(pools[k]["allocated_capacity_gb"] == limits[k] for k in keys),
                f"the ledgers on {url}",
                20,
            )
        usage = await quota_usage(client, urls[0], admin, tenant)
        assert usage == {"volumes": VOLUMES, "gigabytes": VOLUMES}, usage

        # Delete everything through mixed replicas; nothing may be left behind.
        started = time.monotonic()

        async def delete(i: int, volume_id: str) -> httpx.Response:
            return await client.delete(
                f"{urls[(i + 1) % REPLICAS]}/v3/{tenant.project_id}/volumes/{volume_id}",
                headers=tenant.headers,
            )

        responses = await asyncio.gather(*(delete(i, v) for i, v in enumerate(sorted(ids))))
        refused = [(r.status_code, r.text[:300]) for r in responses if r.status_code != 202]
        assert not refused, f"{len(refused)} deletes not accepted, e.g. {refused[:5]}"
        await wait_for(
            functools.partial(all_volumes, client, urls[0], admin, tenant),
            lambda vs: vs == [],
            "every volume to be deleted",
            120,
        )
        print(f"{VOLUMES} deletes done in {time.monotonic() - started:.1f} s")
        empty = await ledgers(cluster.db_url)
        for key, folder in zip(keys, cluster.folders, strict=True):
            assert empty[key]["allocated"] == 0, (key, empty[key])
            assert sorted(os.listdir(folder)) == [], key
        for url in urls:
            await wait_for(
                functools.partial(pools_on, client, url, admin),
                lambda pools: all(pools[k]["allocated_capacity_gb"] == 0 for k in keys),
                f"empty pools on {url}",
                20,
            )
        usage = await quota_usage(client, urls[2], admin, tenant)
        assert usage == {"volumes": 0, "gigabytes": 0}, usage
        jobs = await job_states(cluster.db_url)
        assert jobs == {
            ("create_volume", "succeeded"): capacity,
            ("delete_volume", "succeeded"): capacity,
        }, jobs
        cluster.assert_quiet_logs()
