"""Run and check alembic migrations from code."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    return cfg


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def upgrade(url: str) -> None:
    """Blocking: call from a thread when an event loop is running."""
    command.upgrade(alembic_config(url), "head")


class NotMigrated(RuntimeError):
    pass


async def ensure_migrated(engine: AsyncEngine, url: str) -> None:
    current, head = await current_revision(engine), head_revision(url)
    if current != head:
        raise NotMigrated(
            f"The database at {engine.url.render_as_string(hide_password=True)} is at "
            f"revision {current or 'none'}, the code needs {head}. "
            "Run 'pumice db upgrade' (or start with --migrate)."
        )
