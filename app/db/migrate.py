"""Run and check alembic migrations from code.

Checking is cheap on purpose: every CLI command and every start checks the schema, and
alembic's ScriptDirectory imports every migration script to find the head. The head is
read from the scripts' `revision`/`down_revision` lines instead, and the database's
revision from its `alembic_version` table (tests/db compare both with alembic's own)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "alembic" / "versions"
_ASSIGNMENT = re.compile(
    r"^(revision|down_revision)\b[^=\n]*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE
)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    return cfg


def head_revision() -> str | None:
    """The one revision no other script revises (None without scripts); a ValueError
    when the scripts have several heads or a script names no revision."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        found = dict((name, value) for name, value in _ASSIGNMENT.findall(script.read_text()))
        if not found.get("revision"):
            raise ValueError(f"{script.name} names no revision")
        revisions.add(found["revision"])
        if found.get("down_revision"):
            revised.add(found["down_revision"])
    heads = revisions - revised
    if len(heads) > 1:
        raise ValueError(f"the migrations have several heads: {', '.join(sorted(heads))}")
    return heads.pop() if heads else None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))


def upgrade(url: str) -> None:
    """Blocking: call from a thread when an event loop is running."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


class NotMigrated(RuntimeError):
    pass


async def ensure_migrated(engine: AsyncEngine) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise NotMigrated(
            f"The database at {engine.url.render_as_string(hide_password=True)} is at "
            f"revision {current or 'none'}, the code needs {head}. "
            "Run 'pumice db upgrade' (or start with --migrate)."
        )
