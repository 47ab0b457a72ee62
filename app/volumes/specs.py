"""Key/value specs of a type (volume types' extra specs, group types' group specs):
set key by key, deleted key by key, read as a dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import utcnow
from app.errors import NotFound


@dataclass(frozen=True)
class SpecStore:
    row: Any  # the ORM class of one spec (VolumeTypeExtraSpec, GroupTypeSpec)
    owner_column: str  # its column naming the type: "volume_type_id"
    relation: str  # the type's relationship to its specs: "extra_specs"
    missing: str  # "{type_id}" / "{key}" message of a key that is not there

    async def set(self, session: AsyncSession, owner: Any, specs: dict[str, str]) -> None:
        items = getattr(owner, self.relation)
        current = {s.key: s for s in items}
        for key, value in specs.items():
            if key in current:
                current[key].value = value
            else:
                items.append(self.row(key=key, value=value))
        owner.updated_at = utcnow()
        await session.flush()

    async def delete(self, session: AsyncSession, owner: Any, key: str) -> None:
        result = await session.execute(
            delete(self.row).where(
                getattr(self.row, self.owner_column) == owner.id, self.row.key == key
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(self.missing.format(type_id=owner.id, key=key))
        await session.refresh(owner, [self.relation])

    def of(self, owner: Any) -> dict[str, str]:
        return {s.key: s.value for s in getattr(owner, self.relation)}
