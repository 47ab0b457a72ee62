"""The models and the migrations describe the same schema, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import migrate
from app.db.models import Base

pytestmark = pytest.mark.both_databases  # the schema migrations, per dialect


async def test_models_match_migrations(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with sessionmaker() as session:
        conn = await session.connection()
        differences = await conn.run_sync(diff)
        revision = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    assert differences == []
    # The cheap readings the CLI and every start use agree with alembic's own.
    head = ScriptDirectory.from_config(migrate.alembic_config(db_url)).get_current_head()
    assert revision == migrate.head_revision() == head
    async with sessionmaker() as session:
        assert await migrate.current_revision(session.bind) == head  # type: ignore[arg-type]


def test_the_head_reading_refuses_several_heads(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, revision, down in [
        ("a", "0001", "None"),
        ("b", "0002", "'0001'"),
        ("c", "0003", "'0001'"),
    ]:
        (tmp_path / f"{name}.py").write_text(
            f"revision: str = '{revision}'\ndown_revision: str | None = {down}\n"
        )
    monkeypatch.setattr(migrate, "VERSIONS", tmp_path)
    with pytest.raises(ValueError, match="several heads: 0002, 0003"):
        migrate.head_revision()
    (tmp_path / "c.py").write_text("revision: str = '0003'\ndown_revision = '0002'\n")
    assert migrate.head_revision() == "0003"


async def test_unmigrated_database_is_refused(tmp_path: Any) -> None:
    import pytest

    from app.db.session import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    try:
        with pytest.raises(migrate.NotMigrated, match="pumice db upgrade"):
            await migrate.ensure_migrated(engine)
    finally:
        await engine.dispose()


async def test_attachments_migration_goes_down_and_up_again(db_url: str) -> None:
    """0006 is reversible: the attachments table and provider_auth go and come back."""
    import asyncio

    from sqlalchemy import inspect

    from alembic import command
    from app.db.session import make_engine

    config = migrate.alembic_config(db_url)

    def tables_and_columns(sync_conn: Any) -> tuple[set[str], set[str]]:
        inspector = inspect(sync_conn)
        columns = {c["name"] for c in inspector.get_columns("volumes")}
        return set(inspector.get_table_names()), columns

    async def look() -> tuple[set[str], set[str]]:
        engine = make_engine(db_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(tables_and_columns)
        finally:
            await engine.dispose()

    await asyncio.to_thread(command.downgrade, config, "0005")
    tables, columns = await look()
    assert "volume_attachments" not in tables and "provider_auth" not in columns
    await asyncio.to_thread(command.upgrade, config, "head")
    tables, columns = await look()
    assert "volume_attachments" in tables and "provider_auth" in columns
