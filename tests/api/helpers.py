"""Test helpers shared by the API tests: the agent protocol spoken as a real agent does,
builders of the things tests need (volumes, snapshots, backups, types, group types) and
checks (Cinder's fault format, the ledgers against the live volumes). Test modules import
their shared helpers from here, never from one another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute, Route

from app import jobkinds
from app.agent.client import AgentClient
from app.agent.config import parse_config
from app.agent.service import Agent
from app.db.models import Backend, Job, Pool, QuotaUsage, Volume, utcnow
from app.identity.service import ensure_service_user
from tests.conftest import Caller

BACKUP_HOST = "node1@backup"

_clock = datetime.now(UTC).replace(tzinfo=None)


_seq = 0


def next_timestamp() -> str:
    """Strictly increasing report timestamps, whatever the wall clock does."""
    global _clock
    _clock += timedelta(milliseconds=1)
    return _clock.isoformat()


def next_seq() -> int:
    """Strictly increasing report sequence numbers, as an agent sends them."""
    global _seq
    _seq += 1
    return _seq


def file_pool(
    name: str = "pool",
    total: float = 100.0,
    *,
    thin: bool = False,
    allocated: float = 0.0,
    mosr: str = "1.0",
    reserved: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "pool_name": name,
        "total_capacity_gb": total,
        "free_capacity_gb": total - allocated,
        "allocated_capacity_gb": allocated,
        "provisioned_capacity_gb": allocated,
        "thin_provisioning_support": thin,
        "thick_provisioning_support": not thin,
        "max_over_subscription_ratio": mosr,
        "reserved_percentage": reserved,
        "multiattach": True,
        "QoS_support": False,
        **extra,
    }


async def report(
    client: httpx.AsyncClient,
    service: Caller,
    host: str = "node1@file",
    pools: list[dict[str, Any]] | None = None,
    zone: str = "nova",
    timestamp: str | None = None,
    seq: int | None = None,
    job_versions: dict[str, list[int]] | None = None,
    **backend: Any,
) -> dict[str, Any]:
    """Post a backend's report as `service` (the agent of the caller's user)."""
    body = {
        "host": host,
        "availability_zone": zone,
        "timestamp": timestamp or next_timestamp(),
        "seq": seq if seq is not None else next_seq(),
        "job_versions": job_versions
        or {"create_volume": [1], "delete_volume": [1], "extend_volume": [1]},
        "capabilities": {
            "volume_backend_name": host.split("@")[1],
            "vendor_name": "Pumice",
            "driver_version": "1.0",
            "storage_protocol": "file",
            "pools": pools if pools is not None else [file_pool()],
            **backend,
        },
    }
    r = await client.post("/agent/v1/capabilities", json=body, headers=service.headers())
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def claim(
    client: httpx.AsyncClient,
    service: Caller,
    backends: list[str],
    wait: float = 0,
    *,
    removals: bool = False,
) -> dict[str, Any] | None:
    """The next job, as the agent of `service` claims it. Removals of leftover copies
    (queued when a create fails, or by a migration) are done on the way unless `removals`
    asks for them."""
    while True:
        r = await client.post(
            "/agent/v1/jobs/claim",
            headers=service.headers(),
            json={"backends": backends, "wait": wait},
        )
        assert r.status_code == 200, r.text
        job: dict[str, Any] | None = r.json()["job"]
        if job is None or removals or job["kind"] != "delete_volume_copy":
            return job
        done = await finish(client, service, job)
        assert done.status_code == 200, done.text


def backup_answer(object_count: int = 1, size_bytes: int = 1 << 30) -> dict[str, Any]:
    """A create_backup result, as the backup agent reports one."""
    return {
        "object_count": object_count,
        "size_bytes": size_bytes,
        "stored_bytes": size_bytes // 2,
        "sha256": "0" * 64,
    }


def answer(job: dict[str, Any]) -> dict[str, Any]:
    """A result that fits the job's kind (its result model in app/jobkinds.py), as an
    agent whose driver did the work posts it."""
    kind = jobkinds.lookup(job["kind"], job["payload_version"])
    assert kind is not None, job
    location = {"provider_location": f"/fake/{job['resource_id']}"}
    by_model: dict[type[jobkinds.Wire], dict[str, Any]] = {
        jobkinds.NoResult: {},
        jobkinds.Created: location,
        jobkinds.Migrated: location,
        jobkinds.Managed: {"size_gb": 1, **location},
        jobkinds.BackupCreated: backup_answer(),
        jobkinds.BackupRestored: {"size_bytes": 1 << 30, "sha256": "0" * 64, **location},
        jobkinds.BackupImported: {"object_count": 1, "size_bytes": 1 << 30},
        jobkinds.Exported: EXPORT_ANSWER,
        jobkinds.CopyExported: COPY_EXPORT_ANSWER,
    }
    return by_model[kind.result]


async def finish(
    client: httpx.AsyncClient,
    service: Caller,
    job: dict[str, Any],
    *,
    ok: bool = True,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> httpx.Response:
    """Post a job's result for the attempt the claim gave (or `attempt`); without
    `result`, one that fits the job's kind."""
    body: dict[str, Any] = {"attempt": attempt or job["attempts"], "ok": ok}
    if ok:
        body["result"] = answer(job) if result is None else result
    else:
        body["error"] = error or "disk on fire"
    return await client.post(
        f"/agent/v1/jobs/{job['id']}/result", json=body, headers=service.headers()
    )


async def run_jobs(
    client: httpx.AsyncClient,
    service: Caller,
    backends: list[str],
    ok: bool = True,
) -> int:
    """Claim and complete every queued job of these backends; how many."""
    done = 0
    while (job := await claim(client, service, backends)) is not None:
        r = await finish(client, service, job, ok=ok)
        assert r.status_code == 200, r.text
        done += 1
    return done


async def ledgers(sm: async_sessionmaker[AsyncSession]) -> dict[str, float]:
    """Every pool's claim ledger (allocated GB) by its backend's host."""
    async with sm() as session:
        rows = await session.execute(
            select(Backend.host, Pool.allocated_gb).join(Backend, Pool.backend_id == Backend.id)
        )
        return {host: allocated for host, allocated in rows}


async def expire_all_leases(app: FastAPI) -> None:
    """Every running job's lease ends now, as if its agent had died."""
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(Job)
            .where(Job.state == "running")
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


async def register_backup_service(
    client: httpx.AsyncClient,
    service: Caller,
    host: str = BACKUP_HOST,
    *,
    reaches: list[str] | None = None,
    zone: str = "nova",
    timestamp: str | None = None,
    seq: int | None = None,
) -> httpx.Response:
    """Register a backup service as its agent (`service`) does."""
    return await client.post(
        "/agent/v1/backup-services",
        headers=service.headers(),
        json={
            "host": host,
            "availability_zone": zone,
            "repository": "posix:/srv/backups",
            "reaches": ["node1@file"] if reaches is None else reaches,
            "timestamp": timestamp or next_timestamp(),
            "seq": seq if seq is not None else next_seq(),
        },
    )


# --- checks ---------------------------------------------------------------------------------


def api_routes(routes: list[BaseRoute]) -> Iterator[Route]:
    """Every endpoint of an app (`app.routes`), through included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, Route):
            yield route


def fault(r: httpx.Response, code: int, name: str) -> str:
    """The message of a fault in Cinder's format: {name: {"code": code, "message": ...}}."""
    assert r.status_code == code, r.text
    body = r.json()
    assert list(body) == [name], body
    assert body[name]["code"] == code
    message: str = body[name]["message"]
    return message


async def assert_ledgers_exact(
    sessionmaker: async_sessionmaker[AsyncSession], project_id: str
) -> None:
    """The pool ledger and the project's quota usage are what its live volumes say (one
    pool)."""
    async with sessionmaker() as session:
        pool = (await session.scalars(select(Pool))).one()
        placed = await session.scalar(
            select(func.coalesce(func.sum(Volume.size), 0)).where(Volume.pool_id == pool.id)
        )
        count = await session.scalar(
            select(func.count()).select_from(Volume).where(Volume.project_id == project_id)
        )
        gigabytes = await session.scalar(
            select(func.coalesce(func.sum(Volume.size), 0)).where(Volume.project_id == project_id)
        )
        usage = {
            u.resource: u.in_use
            for u in await session.scalars(
                select(QuotaUsage).where(QuotaUsage.project_id == project_id)
            )
        }
    state = {
        "pool": (pool.allocated_gb, float(placed or 0)),
        "volumes": (usage.get("volumes", 0), count),
        "gigabytes": (usage.get("gigabytes", 0), gigabytes),
    }
    for key, (ledger, live) in state.items():
        assert ledger == live, f"{key}: ledger {ledger} but live volumes say {live}"


async def pool_ledger(app: FastAPI) -> float:
    """What the one pool's ledger says is allocated."""
    async with app.state.runtime.sessionmaker() as session:
        pool = (await session.scalars(select(Pool))).one()
    return float(pool.allocated_gb)


async def messages_about(client: httpx.AsyncClient, caller: Caller, resource_id: str) -> list[str]:
    """The user messages about a resource, as "event_id: user_message"."""
    r = await client.get(
        f"/v3/{caller.project_id}/messages?resource_uuid={resource_id}",
        headers=caller.headers("3.3"),
    )
    assert r.status_code == 200, r.text
    return [f"{m['event_id']}: {m['user_message']}" for m in r.json()["messages"]]


# --- volumes --------------------------------------------------------------------------------


async def create_volume(
    client: httpx.AsyncClient,
    caller: Caller,
    size: Any = 1,
    version: str | None = None,
    **extra: Any,
) -> httpx.Response:
    """POST /volumes, as `caller`; the response, whatever it is."""
    return await client.post(
        f"/v3/{caller.project_id}/volumes",
        json={"volume": {"size": size, **extra}},
        headers=caller.headers(version),
    )


async def new_volume(client: httpx.AsyncClient, caller: Caller, size: int = 1) -> str:
    """A volume accepted for creation (its job queued); its id."""
    r = await create_volume(client, caller, size)
    assert r.status_code == 202, r.text
    volume_id: str = r.json()["volume"]["id"]
    return volume_id


async def available_volume(
    client: httpx.AsyncClient, caller: Caller, service: Caller, size: int = 2, **extra: Any
) -> str:
    """A volume created on node1@file (reported first) by its agent; its id."""
    await report(client, service)
    r = await create_volume(client, caller, size, **extra)
    assert r.status_code == 202, r.text
    await run_jobs(client, service, ["node1@file"])
    volume_id: str = r.json()["volume"]["id"]
    assert await volume_status(client, caller, volume_id) == "available"
    return volume_id


async def show_volume(client: httpx.AsyncClient, caller: Caller, volume_id: str) -> dict[str, Any]:
    r = await client.get(f"/v3/{caller.project_id}/volumes/{volume_id}", headers=caller.headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["volume"]
    return body


async def volume_status(client: httpx.AsyncClient, caller: Caller, volume_id: str) -> str:
    r = await client.get(f"/v3/{caller.project_id}/volumes/{volume_id}", headers=caller.headers())
    status: str = r.json()["volume"]["status"]
    return status


async def volume_action(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    action: str,
    args: Any = None,
    version: str | None = None,
) -> httpx.Response:
    """POST one action on a volume (`os-extend`, `os-reset_status`...), as `caller`."""
    return await client.post(
        f"/v3/{caller.project_id}/volumes/{volume_id}/action",
        json={action: {} if args is None else args},
        headers=caller.headers(version),
    )


async def retype(
    client: httpx.AsyncClient, caller: Caller, volume_id: str, **args: Any
) -> httpx.Response:
    return await volume_action(client, caller, volume_id, "os-retype", args)


async def migrate(
    client: httpx.AsyncClient, caller: Caller, volume_id: str, version: str = "3.0", **args: Any
) -> httpx.Response:
    return await volume_action(client, caller, volume_id, "os-migrate_volume", args, version)


# --- snapshots and backups ------------------------------------------------------------------


async def create_snapshot(
    client: httpx.AsyncClient, caller: Caller, volume_id: str, **extra: Any
) -> dict[str, Any]:
    """A snapshot accepted for creation (its job queued); its body."""
    r = await client.post(
        f"/v3/{caller.project_id}/snapshots",
        json={"snapshot": {"volume_id": volume_id, **extra}},
        headers=caller.headers(),
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()["snapshot"]
    return body


async def snapshot_status(
    client: httpx.AsyncClient, caller: Caller, snapshot_id: str
) -> str | None:
    """The snapshot's status, None once it is gone."""
    r = await client.get(
        f"/v3/{caller.project_id}/snapshots/{snapshot_id}", headers=caller.headers()
    )
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    status: str = r.json()["snapshot"]["status"]
    return status


async def create_backup(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    version: str | None = None,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/backups",
        json={"backup": {"volume_id": volume_id, **extra}},
        headers=caller.headers(version),
    )


async def available_backup(
    client: httpx.AsyncClient, caller: Caller, service: Caller, volume_id: str, **extra: Any
) -> str:
    """A backup of the volume made by the backup agent of `service`; its id."""
    r = await create_backup(client, caller, volume_id, **extra)
    assert r.status_code == 202, r.text
    backup_id: str = r.json()["backup"]["id"]
    job = await claim(client, service, [BACKUP_HOST])
    assert job is not None and job["kind"] == "create_backup", job
    done = await finish(client, service, job)
    assert done.status_code == 200, done.text
    return backup_id


async def show_backup(
    client: httpx.AsyncClient, caller: Caller, backup_id: str, version: str | None = None
) -> dict[str, Any]:
    r = await client.get(
        f"/v3/{caller.project_id}/backups/{backup_id}", headers=caller.headers(version)
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["backup"]
    return body


async def restore_backup(
    client: httpx.AsyncClient, caller: Caller, backup_id: str, body: Any = None
) -> httpx.Response:
    """POST /backups/{id}/restore with `{"restore": body}`."""
    return await client.post(
        f"/v3/{caller.project_id}/backups/{backup_id}/restore",
        json={"restore": body},
        headers=caller.headers(),
    )


# --- types, group types and quotas ----------------------------------------------------------


async def make_type(
    client: httpx.AsyncClient,
    admin: Caller,
    name: str,
    specs: dict[str, str] | None = None,
    /,
    **extra: Any,
) -> dict[str, Any]:
    """A volume type made by `admin` with extra specs `specs` (and any other `extra`
    field of the request); its body."""
    if specs is not None:
        extra["extra_specs"] = specs
    r = await client.post(
        f"/v3/{admin.project_id}/types",
        json={"volume_type": {"name": name, **extra}},
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["volume_type"]
    return body


async def make_group_type(
    client: httpx.AsyncClient, admin: Caller, name: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/v3/{admin.project_id}/group_types",
        json={"group_type": {"name": name, **extra}},
        headers=admin.headers("3.11"),
    )
    # Cinder accepts a group type, and its specs, with 202.
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()["group_type"]
    return body


async def set_quota(
    client: httpx.AsyncClient, admin: Caller, target: str, **values: Any
) -> httpx.Response:
    # cinderclient's body: tenant_id rides along with the limits.
    return await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{target}",
        json={"quota_set": {"tenant_id": target, **values}},
        headers=admin.headers(),
    )


# --- attachments ----------------------------------------------------------------------------

EXPORT_ANSWER = {
    "target_iqn": "iqn.2010-10.org.openstack:volume-x",
    "target_portal": "192.0.2.1:3260",
    "target_lun": 1,
}


# An export for a copy between agents, as the source's agent answers it.
COPY_EXPORT_ANSWER = {
    "target_iqn": "iqn.2010-10.org.openstack:copy-a-x",
    "target_portal": "192.0.2.1:3260",
    "target_lun": 1,
    "sha256": "5a" * 32,
    "bytes": 1024**3,
}


def connector(ip: str = "192.0.2.10", host: str = "compute1", **extra: Any) -> dict[str, Any]:
    """A host's connector as os-brick describes it."""
    return {
        "initiator": f"iqn.1993-08.org.debian:01:{host}",
        "ip": ip,
        "host": host,
        "platform": "x86_64",
        "os_type": "linux2",
        "multipath": False,
        **extra,
    }


async def answer_export(
    client: httpx.AsyncClient,
    service: Caller,
    *,
    ok: bool = True,
    error: str | None = None,
    backends: tuple[str, ...] = ("node1@file",),
) -> dict[str, Any]:
    """Claim the next job (an export, as the agent gets it) and finish it with target
    properties (or the failure); the claimed job."""
    job = await claim(client, service, list(backends), wait=5)
    assert job is not None and job["kind"] in ("export_volume", "unexport_volume"), job
    r = await finish(client, service, job, ok=ok, error=error)
    assert r.status_code == 200, r.text
    return job


async def attach(
    client: httpx.AsyncClient,
    caller: Caller,
    service: Caller,
    volume_id: str,
    host_connector: dict[str, Any],
) -> str:
    """Attach the volume to a host as Nova does at 3.54 (an attachment created with the
    connector, its export answered as the agent, then os-complete); the attachment id."""
    headers = caller.headers("3.54")
    body = {
        "volume_uuid": volume_id,
        "instance_uuid": "1b1c1f3e-0000-4000-8000-000000000002",
        "connector": host_connector,
    }
    url = f"/v3/{caller.project_id}/attachments"
    request = asyncio.create_task(client.post(url, json={"attachment": body}, headers=headers))
    await answer_export(client, service)
    r = await request
    assert r.status_code == 200, r.text
    attachment_id: str = r.json()["attachment"]["id"]
    r = await client.post(
        f"{url}/{attachment_id}/action", json={"os-complete": None}, headers=headers
    )
    assert r.status_code == 204, r.text
    return attachment_id


class TcpRelay:
    """A TCP relay to a server (PostgreSQL) that a test can cut (connections dropped,
    new ones refused), hang (accepted, never answered) and restore, on one port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.hanging = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.append(client_w)
        if self.hanging:
            return  # held open, never answered: the client's connect timeout decides
        upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers.append(upstream_w)
        await asyncio.gather(
            _pipe(client_r, upstream_w), _pipe(upstream_r, client_w), return_exceptions=True
        )

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def hang(self) -> None:
        await self.cut()
        self.hanging = True
        await self.start()

    async def restore(self) -> None:
        await self.cut()
        self.hanging = False
        await self.start()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


# --- a real agent, in this process ---------------------------------------------------------


AGENT_USER = "node1-agent"


async def agent_password(app: FastAPI, user: str = AGENT_USER) -> str:
    """The password of a new service user `user`, an agent's identity."""
    async with app.state.runtime.sessionmaker() as session, session.begin():
        password = await ensure_service_user(session, user)
    assert password is not None
    return password


async def in_process_agent(
    app: FastAPI, backends: list[dict[str, Any]], password: str, user: str = AGENT_USER
) -> Agent:
    """A real agent (host node1) with `backends`, talking to `app` in this process as
    the service user `user` (agent_password)."""
    config = parse_config(
        {
            "agent": {
                "api_url": "http://pumice.test",
                "host": "node1",
                "report_interval": 0.3,
                "claim_wait": 1,
                "retry_max_interval": 0.3,
            },
            "auth": {"username": user, "password": password, "project_name": "service"},
            "backends": backends,
        }
    )
    client = AgentClient(
        api_url="http://pumice.test",
        auth_url="http://pumice.test/identity/v3",
        username=user,
        password=password,
        project_name="service",
        agent_id="node1",
        retry_max=0.3,
        transport=httpx.ASGITransport(app=app),
    )
    return Agent(config, client=client)


async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = 60.0) -> None:
    """Wait (bounded) until `check()` holds."""
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


# --- groups and group snapshots -------------------------------------------------------------


async def group_with_volumes(
    client: httpx.AsyncClient,
    admin: Caller,
    caller: Caller,
    service: Caller,
    sizes: list[int],
    *,
    total: float = 100.0,
    host: str = "node1@file",
    types: str = "",
) -> tuple[str, list[str]]:
    """A group of `caller` on `host`'s one pool (reported with `total` GB), holding an
    available volume of each of `sizes` made by the agent; the group's id and theirs.
    Its volume type and group type are new, named "plain" and "generic" + `types`."""
    await report(client, service, host, [file_pool("pool", total)])
    vtype = await make_type(client, admin, f"plain{types}")
    gtype = await make_group_type(client, admin, f"generic{types}")
    r = await client.post(
        f"/v3/{caller.project_id}/groups",
        json={"group": {"group_type": gtype["id"], "volume_types": [vtype["id"]], "name": "g"}},
        headers=caller.headers("3.13"),
    )
    assert r.status_code == 202, r.text
    group_id: str = r.json()["group"]["id"]
    ids = []
    for size in sizes:
        made = await create_volume(
            client, caller, size, "3.13", volume_type=vtype["id"], group_id=group_id
        )
        assert made.status_code == 202, made.text
        ids.append(made.json()["volume"]["id"])
    await run_jobs(client, service, [host])
    for volume_id in ids:
        assert await volume_status(client, caller, volume_id) == "available"
    return group_id, ids


async def create_group_snapshot(
    client: httpx.AsyncClient, caller: Caller, group_id: str, version: str = "3.14", **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/group_snapshots",
        json={"group_snapshot": {"group_id": group_id, **extra}},
        headers=caller.headers(version),
    )


async def show_group_snapshot(
    client: httpx.AsyncClient, caller: Caller, group_snapshot_id: str
) -> dict[str, Any] | None:
    """The group snapshot's detail view, None once it is gone."""
    r = await client.get(
        f"/v3/{caller.project_id}/group_snapshots/{group_snapshot_id}",
        headers=caller.headers("3.14"),
    )
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["group_snapshot"]
    return body


async def delete_group_snapshot(
    client: httpx.AsyncClient, caller: Caller, group_snapshot_id: str
) -> httpx.Response:
    return await client.delete(
        f"/v3/{caller.project_id}/group_snapshots/{group_snapshot_id}",
        headers=caller.headers("3.14"),
    )


# --- transfers ------------------------------------------------------------------------------


async def quota_in_use(app: FastAPI, project_id: str) -> dict[str, int]:
    """The project's quota usage counters (resources it never used are left out or 0)."""
    async with app.state.runtime.sessionmaker() as session:
        rows = await session.scalars(select(QuotaUsage).where(QuotaUsage.project_id == project_id))
        return {u.resource: int(u.in_use) for u in rows if u.in_use}


async def create_transfer(
    client: httpx.AsyncClient,
    caller: Caller,
    volume_id: str,
    *,
    path: str = "volume-transfers",
    version: str | None = "3.57",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/{path}",
        json={"transfer": {"volume_id": volume_id, **extra}},
        headers=caller.headers(version),
    )


async def accept_transfer(
    client: httpx.AsyncClient,
    caller: Caller,
    transfer_id: str,
    auth_key: str,
    *,
    path: str = "volume-transfers",
    version: str | None = "3.57",
) -> httpx.Response:
    return await client.post(
        f"/v3/{caller.project_id}/{path}/{transfer_id}/accept",
        json={"accept": {"auth_key": auth_key}},
        headers=caller.headers(version),
    )
