"""The OpenAPI document is a contract generated clients are built from."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx


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
