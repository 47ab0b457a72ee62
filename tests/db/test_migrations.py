"""The models and the migrations describe the same schema, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
    assert revision == migrate.head_revision(db_url)


async def test_unmigrated_database_is_refused(tmp_path: Any) -> None:
    import pytest

    from app.db.session import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    try:
        with pytest.raises(migrate.NotMigrated, match="pumice db upgrade"):
            await migrate.ensure_migrated(engine, url)
    finally:
        await engine.dispose()
