"""Key/value metadata of a resource (volumes, snapshots): one table of rows per owner,
replaced, merged or trimmed key by key, and the owner's relationship refreshed so its
view shows what was written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadRequest, NotFound

MAX_METADATA_ITEMS = 128


@dataclass(frozen=True)
class MetadataStore:
    row: Any  # the ORM class of one item (VolumeMetadata, SnapshotMetadata)
    owner_column: str  # its column naming the owner: "volume_id"
    relation: str  # the owner's relationship to its items: "volume_metadata"
    noun: str  # for messages: "volume"

    async def replace(self, session: AsyncSession, owner: Any, metadata: dict[str, str]) -> None:
        await session.execute(
            delete(self.row).where(getattr(self.row, self.owner_column) == owner.id)
        )
        session.add_all(
            self.row(**{self.owner_column: owner.id}, key=k, value=v) for k, v in metadata.items()
        )
        await session.flush()
        await session.refresh(owner, [self.relation])

    async def merge(self, session: AsyncSession, owner: Any, metadata: dict[str, str]) -> None:
        current = {m.key: m.value for m in getattr(owner, self.relation)}
        current.update(metadata)
        if len(current) > MAX_METADATA_ITEMS:
            raise BadRequest(f"Too many metadata items (at most {MAX_METADATA_ITEMS}).")
        await self.replace(session, owner, current)

    async def delete_key(self, session: AsyncSession, owner: Any, key: str) -> None:
        result = await session.execute(
            delete(self.row).where(
                getattr(self.row, self.owner_column) == owner.id, self.row.key == key
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"Metadata key {key} could not be found for {self.noun} {owner.id}.")
        await session.refresh(owner, [self.relation])
