"""The OpenAPI document is a contract generated clients are built from."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator

from tests.api.helpers import report, run_jobs
from tests.conftest import Caller


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


async def test_every_operation_declares_the_parameters_of_its_path(
    client: httpx.AsyncClient,
) -> None:
    undeclared = []
    for path, method, op in _operations(await _document(client)):
        in_path = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        if in_path - declared:
            undeclared.append(f"{method.upper()} {path}: {sorted(in_path - declared)}")
    assert undeclared == []


async def test_operation_ids_are_unique_and_named_by_resource_and_verb(
    client: httpx.AsyncClient,
) -> None:
    operations = _operations(await _document(client))
    ids = Counter(op["operationId"] for _, _, op in operations)
    assert [name for name, count in ids.items() if count > 1] == []
    for _, _, op in operations:
        assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", op["operationId"]), op["operationId"]
    assert {"volumes_create", "volumes_show", "volumes_list", "volumes_delete"} <= set(ids)
    assert "volume_types_list_specs" in ids


# --- the documented responses are what is sent ------------------------------------------------


def _find_operation(
    doc: dict[str, Any], method: str, path: str
) -> tuple[str, dict[str, Any]] | None:
    """The documented operation serving `method path`: a literal segment beats a
    parameter (`/groups/detail` is not `/groups/{group_id}`)."""
    best: tuple[int, str, dict[str, Any]] | None = None
    for template, ops in doc["paths"].items():
        op = ops.get(method.lower())
        if op is None:
            continue
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            params = template.count("{")
            if best is None or params < best[0]:
                best = (params, template, op)
    return None if best is None else (best[1], best[2])


def _documented_schema(op: dict[str, Any], status: int | str) -> dict[str, Any] | None:
    response = op.get("responses", {}).get(str(status))
    if response is None:
        return None
    schema: dict[str, Any] | None = (
        response.get("content", {}).get("application/json", {}).get("schema")
    )
    return schema


async def test_every_answer_of_these_routers_matches_the_schema_openapi_documents(
    client: httpx.AsyncClient, admin: Caller, member: Caller, service: Caller
) -> None:
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    client.event_hooks["response"].append(record)
    v3 = f"/v3/{admin.project_id}"
    head = admin.headers("3.71")

    async def call(method: str, path: str, body: Any = None, who: Caller = admin) -> Any:
        headers = who.headers("3.71") if who is not admin else head
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code < 300 or r.status_code == 300, f"{method} {path}: {r.text}"
        return r.json() if r.content else None

    # Discovery, the agent's side and the admin's views of the backends.
    await call("GET", "/")
    await call("GET", "/v3/")
    await report(client, service, host="node1@file", zone="az1")
    await call("POST", "/agent/v1/jobs/claim", {"backends": ["node1@file"], "wait": 0}, service)
    for path in (
        "/extensions",
        "/os-availability-zone",
        "/limits",
        "/os-services",
        "/os-hosts",
        "/os-hosts/node1@file",
        "/scheduler-stats/get_pools?detail=true",
        "/scheduler-stats/get_pools",
        "/capabilities/node1@file",
        "/messages",
        f"/os-quota-sets/{admin.project_id}",
        f"/os-quota-sets/{admin.project_id}?usage=true",
        f"/os-quota-sets/{admin.project_id}/defaults",
        "/os-quota-class-sets/default",
    ):
        await call("GET", f"{v3}{path}")
    await call("POST", f"{v3}/scheduler-stats/dry-run", {"volume": {"size": 1}})
    await call("PUT", f"{v3}/os-quota-sets/{member.project_id}", {"quota_set": {"volumes": 20}})
    await call("PUT", f"{v3}/os-quota-class-sets/default", {"quota_class_set": {"volumes": 30}})

    # Volume types, their specs and access.
    created = await call(
        "POST", f"{v3}/types", {"volume_type": {"name": "gold", "extra_specs": {"a": "1"}}}
    )
    type_id = created["volume_type"]["id"]
    await call("GET", f"{v3}/types")
    await call("GET", f"/v3/{member.project_id}/types", who=member)
    await call("GET", f"{v3}/types/{type_id}")
    await call("PUT", f"{v3}/types/{type_id}", {"volume_type": {"description": "d"}})
    await call("POST", f"{v3}/types/{type_id}/extra_specs", {"extra_specs": {"b": "2"}})
    await call("GET", f"{v3}/types/{type_id}/extra_specs")
    await call("GET", f"{v3}/types/{type_id}/extra_specs/a")
    await call("PUT", f"{v3}/types/{type_id}/extra_specs/a", {"a": "3"})
    private = await call("POST", f"{v3}/types", {"volume_type": {"name": "p", "is_public": False}})
    private_id = private["volume_type"]["id"]
    await call(
        "POST",
        f"{v3}/types/{private_id}/action",
        {"addProjectAccess": {"project": member.project_id}},
    )
    await call("GET", f"{v3}/types/{private_id}/os-volume-type-access")

    # Group types and groups.
    gtype = await call("POST", f"{v3}/group_types", {"group_type": {"name": "g"}})
    gtype_id = gtype["group_type"]["id"]
    await call("GET", f"{v3}/group_types")
    await call("GET", f"{v3}/group_types/{gtype_id}")
    await call("PUT", f"{v3}/group_types/{gtype_id}", {"group_type": {"description": "d"}})
    await call("POST", f"{v3}/group_types/{gtype_id}/group_specs", {"group_specs": {"k": "v"}})
    await call("GET", f"{v3}/group_types/{gtype_id}/group_specs")
    await call("GET", f"{v3}/group_types/{gtype_id}/group_specs/k")
    await call("PUT", f"{v3}/group_types/{gtype_id}/group_specs/k", {"k": "w"})
    group = await call(
        "POST",
        f"{v3}/groups",
        {"group": {"group_type": gtype_id, "volume_types": [type_id], "name": "grp"}},
    )
    group_id = group["group"]["id"]
    await call("GET", f"{v3}/groups")
    await call("GET", f"{v3}/groups/detail?list_volume=true")
    await call("GET", f"{v3}/groups/{group_id}?list_volume=true")

    # QoS specs.
    qos = await call("POST", f"{v3}/qos-specs", {"qos_specs": {"name": "q", "total_iops_sec": 9}})
    qos_id = qos["qos_specs"]["id"]
    await call("GET", f"{v3}/qos-specs")
    await call("GET", f"{v3}/qos-specs/{qos_id}")
    await call("PUT", f"{v3}/qos-specs/{qos_id}", {"qos_specs": {"read_iops_sec": "5"}})
    await call("GET", f"{v3}/qos-specs/{qos_id}/associate?vol_type_id={type_id}")
    await call("GET", f"{v3}/qos-specs/{qos_id}/associations")
    await call("GET", f"{v3}/types/{type_id}")

    doc = await _document(client)
    checked = set()
    for response in seen:
        if response.request.url.path == "/openapi.json":
            continue
        method, path = response.request.method, response.request.url.path
        found = _find_operation(doc, method, path)
        assert found is not None, f"{method} {path} is not documented"
        template, op = found
        schema = _documented_schema(op, response.status_code)
        if not response.content:
            assert schema is None, f"{method} {template} documents a body it does not send"
            continue
        assert schema, f"{method} {template} {response.status_code} has no documented schema"
        validator = Draft202012Validator({**schema, "components": doc.get("components", {})})
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert errors == [], f"{method} {template} {response.status_code}: {errors}"
        checked.add(op["operationId"])
    assert len(checked) >= 40, sorted(checked)


def _documented(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The body schema /openapi.json gives for `status` of `method path`, with the
    document's components so its $refs resolve."""
    response = doc["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


async def test_volume_snapshot_and_backup_bodies_are_what_the_document_says(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    """Real answers of the volumes, snapshots and backups routers, at the lowest and the
    highest microversion and for a member and an admin, each validated against the
    schema its operation documents for its status (response models list every field
    they allow, so an undocumented field fails too)."""
    doc = await _document(client)
    await report(client, service)
    checked: list[str] = []

    async def call(
        caller: Caller, method: str, path: str, version: str = "3.0", **kwargs: Any
    ) -> Any:
        url = "/v3/" + caller.project_id + path.split("}", 1)[1]
        for name, value in kwargs.pop("ids", {}).items():
            url = url.replace("{" + name + "}", value)
        r = await client.request(method, url, headers=caller.headers(version), **kwargs)
        assert r.status_code < 300, (method, url, r.status_code, r.text)
        body = r.json()
        schema = _documented(doc, method, path, r.status_code)
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(body))
        assert not errors, (method, path, version, [e.message for e in errors])
        checked.append(f"{method} {path} {version}")
        return body

    p = "/v3/{project_id}"
    for version in ("3.0", "3.71"):
        for caller in (member, admin):
            volume = (
                await call(
                    caller,
                    "POST",
                    f"{p}/volumes",
                    version,
                    json={"volume": {"size": 1, "name": "v", "metadata": {"k": "v"}}},
                )
            )["volume"]
            await run_jobs(client, service, ["node1@file"])
            ids = {"volume_id": volume["id"], "key": "k"}
            await call(caller, "GET", f"{p}/volumes/{{volume_id}}", version, ids=ids)
            await call(caller, "GET", f"{p}/volumes", version, params={"limit": 1})
            await call(caller, "GET", f"{p}/volumes/detail", version, params={"with_count": 1})
            if version != "3.0":
                await call(caller, "GET", f"{p}/volumes/summary", version)
            body = {"volume": {"description": "d"}}
            await call(caller, "PUT", f"{p}/volumes/{{volume_id}}", version, ids=ids, json=body)
            meta = {"metadata": {"a": "b"}}
            await call(caller, "GET", f"{p}/volumes/{{volume_id}}/metadata", version, ids=ids)
            for method in ("POST", "PUT"):
                path = f"{p}/volumes/{{volume_id}}/metadata"
                await call(caller, method, path, version, ids=ids, json=meta)
            item = f"{p}/volumes/{{volume_id}}/metadata/{{key}}"
            await call(caller, "PUT", item, version, ids=ids, json={"meta": {"k": "w"}})
            await call(caller, "GET", item, version, ids=ids)

            snapshot = (
                await call(
                    caller,
                    "POST",
                    f"{p}/snapshots",
                    version,
                    json={"snapshot": {"volume_id": volume["id"], "name": "s"}},
                )
            )["snapshot"]
            await run_jobs(client, service, ["node1@file"])
            ids = {"snapshot_id": snapshot["id"], "key": "a"}
            await call(caller, "GET", f"{p}/snapshots/{{snapshot_id}}", version, ids=ids)
            await call(caller, "GET", f"{p}/snapshots", version)
            await call(caller, "GET", f"{p}/snapshots/detail", version)
            body = {"snapshot": {"name": "t"}}
            path = f"{p}/snapshots/{{snapshot_id}}"
            await call(caller, "PUT", path, version, ids=ids, json=body)
            path = f"{p}/snapshots/{{snapshot_id}}/metadata"
            await call(caller, "POST", path, version, ids=ids, json={"metadata": {"a": "b"}})
            await call(caller, "GET", f"{path}/{{key}}", version, ids=ids)

            await call(caller, "GET", f"{p}/backups", version)
            await call(caller, "GET", f"{p}/backups/detail", version)
    assert len(checked) > 60


async def test_volume_snapshot_backup_and_manage_operations_document_their_bodies(
    client: httpx.AsyncClient,
) -> None:
    """Every POST/PUT of these routers documents its request body, and every 2xx answer
    either a typed body (a component) or no body at all."""
    doc = await _document(client)
    tags = {"volumes", "snapshots", "backups", "manageable volumes"}
    operations = [
        (path, method, op) for path, method, op in _operations(doc) if set(op["tags"]) & tags
    ]
    assert len(operations) == 45  # with the manageable listings and the backup records
    untyped = []
    for path, method, op in operations:
        if method in ("post", "put"):
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "$ref" not in schema.get("schema", {}):
                untyped.append(f"{method.upper()} {path} request")
        for status, response in op["responses"].items():
            if not status.startswith("2") or "content" not in response:
                continue
            if "$ref" not in response["content"]["application/json"]["schema"]:
                untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []


async def test_a_body_without_its_resource_keeps_cinders_message(
    client: httpx.AsyncClient, member: Caller
) -> None:
    url = f"/v3/{member.project_id}/volumes"
    for body in ({"volume": 5}, {"size": 1}):
        r = await client.post(url, json=body, headers=member.headers())
        assert r.status_code == 400
        message = r.json()["badRequest"]["message"]
        assert message == "Missing required element 'volume' in request body."
    r = await client.post(url, json=[], headers=member.headers())
    assert r.json()["badRequest"]["message"] == (
        "Malformed request body: it must be a JSON object."
    )
    # Without a JSON content type the body is still read as JSON, and one nested too
    # deep to read is a 400, not a 500.
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    for content in (b'{"volume": 5}', deep):
        headers = {k: v for k, v in member.headers().items() if k != "Content-Type"}
        r = await client.post(url, content=content, headers=headers)
        assert r.status_code == 400 and "badRequest" in r.json()


# --- faults and the microversion header, as a generated client needs them ---------------------


async def test_every_block_storage_operation_documents_faults_and_the_microversion_header(
    client: httpx.AsyncClient,
) -> None:
    """A generated client parses a 404 or a 400 as Cinder's fault, not as FastAPI's 422
    (never sent: validation errors are 400 faults), and offers the microversion header."""
    doc = await _document(client)
    operations = [(p, m, op) for p, m, op in _operations(doc) if p.startswith("/v3/{project_id}")]
    assert len(operations) > 90
    missing = []
    for path, method, op in operations:
        name = f"{method.upper()} {path}"
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if "OpenStack-API-Version" not in headers:
            missing.append(f"{name}: microversion header")
        if "422" in op["responses"]:
            missing.append(f"{name}: documents a 422")
        for status in ("4XX", "5XX"):
            schema = _documented_schema(op, status)
            if schema != {"$ref": "#/components/schemas/Fault"}:
                missing.append(f"{name}: {status} is not a Fault")
    assert missing == []


async def test_the_faults_sent_are_what_the_document_says(
    client: httpx.AsyncClient, member: Caller
) -> None:
    doc = await _document(client)
    fault = {"$ref": "#/components/schemas/Fault", "components": doc["components"]}
    v3 = f"/v3/{member.project_id}"
    answers = [
        await client.get(f"{v3}/volumes/{'0' * 32}", headers=member.headers("3.71")),
        await client.post(f"{v3}/volumes", json={"volume": {}}, headers=member.headers()),
        await client.post(f"{v3}/volumes", json=[], headers=member.headers()),
        await client.get(f"{v3}/os-services", headers=member.headers()),
        await client.get(f"{v3}/volumes", headers=member.headers("4.0")),
    ]
    assert [r.status_code for r in answers] == [404, 400, 400, 403, 406]
    for r in answers:
        errors = [e.message for e in Draft202012Validator(fault).iter_errors(r.json())]
        assert errors == [], (r.request.url, r.json())
    # The document's fault names are the ones sent (one source: app/api/faults.py).
    names = set(doc["components"]["schemas"]["Fault"]["properties"])
    assert {"itemNotFound", "badRequest", "forbidden", "notAcceptable", "computeFault"} <= names


async def test_component_schema_names_are_unique_without_module_prefixes(
    client: httpx.AsyncClient,
) -> None:
    """Two models of one name make FastAPI name both after their modules
    (`app__api__schemas__x__Name`), which generators cannot resolve."""
    names = list((await _document(client))["components"]["schemas"])
    assert [name for name in names if "__" in name] == []
