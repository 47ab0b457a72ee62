"""Helpers shared by the identity tests: the Keystone requests and the CLI runner."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import typer
from typer.testing import CliRunner

from app.db.session import make_engine, make_sessionmaker
from app.identity import service

TOKENS = "/identity/v3/auth/tokens"
UNAUTHORIZED_BODY = {
    "error": {
        "code": 401,
        "message": "The request you have made requires authentication.",
        "title": "Unauthorized",
    }
}


def password_auth(
    user: str = "alice",
    password: str = "pw-alice",
    project: str | None = "demo",
    *,
    by_id: bool = False,
    domain: dict[str, str] | None = None,
) -> dict[str, Any]:
    user_ref: dict[str, Any] = (
        {"id": user} if by_id else {"name": user, "domain": domain or {"name": "Default"}}
    )
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {**user_ref, "password": password}},
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


async def login(client: httpx.AsyncClient, *args: Any, **kwargs: Any) -> str:
    response = await client.post(TOKENS, json=password_auth(*args, **kwargs))
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


runner = CliRunner()


class Cli:
    def __init__(self, db_url: str) -> None:
        self.env = {"PUMICE_DATABASE_URL": db_url}
        self.db_url = db_url

    def __call__(
        self, app: typer.Typer, *args: str, code: int = 0, stdin: str | None = None
    ) -> str:
        result = runner.invoke(app, list(args), env=self.env, input=stdin)
        assert result.exit_code == code, result.output + result.stderr
        return result.output if code == 0 else result.stderr

    def login(self, user: str, password: str, project: str | None) -> service.AuthResult:
        async def attempt() -> service.AuthResult:
            engine = make_engine(self.db_url)
            try:
                async with make_sessionmaker(engine)() as session:
                    return await service.authenticate(
                        session,
                        user_name=user,
                        user_id=None,
                        password=password,
                        project_name=project,
                        project_id=None,
                    )
            finally:
                await engine.dispose()

        return asyncio.run(attempt())
