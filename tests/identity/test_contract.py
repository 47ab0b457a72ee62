"""The identity answers are what /openapi.json documents for them."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from tests.identity.helpers import TOKENS, login, password_auth


def _schema(doc: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][status]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


async def test_identity_answers_match_their_documented_schemas(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    doc = (await client.get("/openapi.json")).json()
    root = await login(client, "root", "pw-root", "admin")
    admin = {"X-Auth-Token": root}
    checks: list[tuple[str, str, str, dict[str, str], Any, int]] = [
        ("get", "/identity", "/identity", {}, None, 300),
        ("get", "/identity/v3", "/identity/v3", {}, None, 200),
        ("post", "/identity/v3/auth/tokens", TOKENS, {}, password_auth(), 201),
        ("get", "/identity/v3/auth/tokens", TOKENS, {**admin, "X-Subject-Token": root}, None, 200),
        ("get", "/identity/v3/auth/projects", "/identity/v3/auth/projects", admin, None, 200),
        ("get", "/identity/v3/auth/catalog", "/identity/v3/auth/catalog", admin, None, 200),
        ("get", "/identity/v3/users", "/identity/v3/users", admin, None, 200),
        ("get", "/identity/v3/users/{user_id}", f"/identity/v3/users/{people['alice']}", admin,
         None, 200),
        ("get", "/identity/v3/users/{user_id}/projects",
         f"/identity/v3/users/{people['alice']}/projects", admin, None, 200),
        ("get", "/identity/v3/projects", "/identity/v3/projects", admin, None, 200),
        ("get", "/identity/v3/projects/{project_id}", f"/identity/v3/projects/{people['demo']}",
         admin, None, 200),
        # An error is Keystone's body, as documented for 4XX.
        ("get", "/identity/v3/users", "/identity/v3/users", {}, None, 401),
    ]  # fmt: skip
    for method, template, url, headers, body, status in checks:
        r = await client.request(method.upper(), url, headers=headers, json=body)
        assert r.status_code == status, (url, r.text)
        documented = str(status) if status < 400 else "4XX"
        schema = _schema(doc, method, template, documented)
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(r.json())]
        assert errors == [], (method, url, errors)
