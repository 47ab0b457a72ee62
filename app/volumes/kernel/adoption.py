"""Managing storage this service made and later let go of (unmanaged): a manage's
reference may name it by the name drivers give a volume or snapshot (`volume-<id>`),
which a driver otherwise refuses as another volume's storage. Only the database can
tell the two apart: a name whose id is a volume (or snapshot) the database still has
is refused here; any other such name is adopted (the job tells the driver so)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Snapshot, Volume
from app.errors import BadRequest

# The names drivers give their storage (file and LVM drivers).
VOLUME_NAMES = ("volume-",)
SNAPSHOT_NAMES = ("snapshot-", "_snapshot-")


async def adopts(
    session: AsyncSession, ref: dict[str, Any], model: type[Volume] | type[Snapshot]
) -> bool:
    """Whether `ref` names an unmanaged volume's (or snapshot's) storage; BadRequest
    when it names one the database has."""
    name = ref.get("source-name")
    if not isinstance(name, str):
        return False
    resource = "volume" if model is Volume else "snapshot"
    for prefix in VOLUME_NAMES if model is Volume else SNAPSHOT_NAMES:
        if name.startswith(prefix):
            own_id = name.removeprefix(prefix)
            if await session.get(model, own_id) is not None:
                raise BadRequest(
                    f"Manage existing {resource} failed due to invalid backend reference "
                    f"{ref}: {resource} {own_id} is already managed."
                )
            return True
    return False
