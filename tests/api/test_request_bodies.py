"""A request body is decoded and checked once, by its model, and a body that lacks what
the operation needs is a Cinder 400 naming the missing element, never pydantic's words
nor a 422: on every POST and PUT operation of the Block Storage API and the agents'."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.api.helpers import api_routes, fault
from tests.conftest import Caller

MISSING = re.compile(r"Missing required element '([^']+)' in request body\.")
# Path parameters whose value must parse (an agent's job id is an integer).
PATH_VALUES = {"job_id": "1", "key": "k1"}


def _operations(app: FastAPI, admin: Caller) -> list[tuple[str, str, str]]:
    """(method, template, url) of every operation that takes a body; /identity answers
    in Keystone's shape, not Cinder's, and is left to its own tests."""
    out = []
    for route in api_routes(app.routes):
        if route.path.startswith("/identity"):
            continue
        for method in sorted((route.methods or set()) & {"POST", "PUT"}):
            url = re.sub(
                r"{(\w+)}",
                lambda m: (
                    admin.project_id
                    if m.group(1) == "project_id"
                    else PATH_VALUES.get(m.group(1), "x1")
                ),
                route.path,
            )
            out.append((method, route.path, url))
    return out


@pytest.mark.parametrize("body", [b"", b"{}"], ids=["empty", "empty-object"])
async def test_a_body_lacking_what_the_operation_needs_is_a_400_naming_it(
    app: FastAPI, client: httpx.AsyncClient, admin: Caller, service: Caller, body: bytes
) -> None:
    operations = _operations(app, admin)
    assert len(operations) > 60, operations
    wrong = []
    for method, template, url in operations:
        # An agent's own calls are the service user's; reassigning a host is an admin's.
        caller = service if url.startswith("/agent") and "reassign" not in url else admin
        headers = {**caller.headers("3.71"), "Content-Type": "application/json"}
        r = await client.request(method, url, content=body, headers=headers)
        if r.status_code != 400:
            wrong.append(f"{method} {template}: {r.status_code} {r.text[:200]}")
            continue
        message = fault(r, 400, "badRequest")
        if not MISSING.search(message):
            wrong.append(f"{method} {template}: {message}")
    assert wrong == []


@pytest.mark.parametrize(
    ("method", "path", "element"),
    [
        ("POST", "/volumes", "volume"),
        ("PUT", "/volumes/x1", "volume"),
        ("POST", "/volumes/x1/action", "action"),
        ("POST", "/volumes/x1/metadata", "metadata"),
        ("PUT", "/volumes/x1/metadata/k1", "meta"),
        ("POST", "/types", "volume_type"),
        ("PUT", "/types/x1/extra_specs/k1", "k1"),
        ("POST", "/groups/action", "create-from-src"),
        ("PUT", "/os-quota-sets/x1", "quota_set"),
    ],
)
async def test_the_element_named_is_the_one_cinder_names(
    client: httpx.AsyncClient, admin: Caller, method: str, path: str, element: str
) -> None:
    for body in (b"", b"{}"):
        r = await client.request(
            method,
            f"/v3/{admin.project_id}{path}",
            content=body,
            headers={**admin.headers("3.71"), "Content-Type": "application/json"},
        )
        match = MISSING.search(fault(r, 400, "badRequest"))
        assert match is not None and match.group(1) == element, r.text


async def test_a_body_sent_without_a_json_content_type_is_read_as_json(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    r = await client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}",
        content=b'{"quota_set": {"volumes": 7}}',
        headers=admin.headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["quota_set"]["volumes"] == 7


async def test_no_operation_documents_a_422(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    documented = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "422" in op.get("responses", {})
    ]
    assert documented == []
