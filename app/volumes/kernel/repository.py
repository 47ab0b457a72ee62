"""The one way a project-owned resource (volume, snapshot, backup, group) is found for a
caller: a project sees its own rows, an admin any row (and lists every project's only
when asking for all tenants); another project's row is simply not found, never a 403
that would confirm it exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Backup, Group, GroupSnapshot, Snapshot, Volume, VolumeAttachment
from app.errors import NotFound

Row = TypeVar("Row", Volume, Snapshot, Backup, Group, VolumeAttachment, GroupSnapshot)


@dataclass(frozen=True)
class Repository(Generic[Row]):
    model: type[Row]
    noun: str  # for Cinder's 404: "Snapshot"

    def visible(
        self, query: Select[Any], ctx: RequestContext, all_tenants: bool = False
    ) -> Select[Any]:
        """`query` narrowed to the rows a list shows the caller."""
        if ctx.is_admin and all_tenants:
            return query
        return query.where(self.model.project_id == ctx.project_id)

    async def get(
        self, session: AsyncSession, ctx: RequestContext, row_id: str, *, for_update: bool = False
    ) -> Row:
        """The caller's row (an admin's: any), locked and read afresh `for_update`."""
        query = select(self.model).where(self.model.id == row_id)
        if not ctx.is_admin:
            query = query.where(self.model.project_id == ctx.project_id)
        if for_update:
            query = locking(query)
        row = (await session.scalars(query)).first()
        if row is None:
            raise NotFound(f"{self.noun} {row_id} could not be found.")
        return row

    async def lock(self, session: AsyncSession, row_id: str) -> Row | None:
        """The row whoever's it is (a job's end, a flow reaching a related row), locked
        and read afresh; None when it is gone. The caller keeps the lock order (job,
        volume, snapshot/backup/group, quota, pool)."""
        query = locking(select(self.model).where(self.model.id == row_id))
        return (await session.scalars(query)).first()


def locking(query: Select[Any]) -> Select[Any]:
    """`query` as SELECT … FOR UPDATE (where the dialect has it: SQLite's one writer
    needs none), its rows read afresh over what the session holds."""
    return query.with_for_update().execution_options(populate_existing=True)


VOLUMES = Repository(Volume, "Volume")
SNAPSHOTS = Repository(Snapshot, "Snapshot")
BACKUPS = Repository(Backup, "Backup")
GROUPS = Repository(Group, "Group")
# Cinder's GroupSnapshotNotFound: "GroupSnapshot <id> could not be found."
GROUP_SNAPSHOTS = Repository(GroupSnapshot, "GroupSnapshot")
