"""The one compare-and-swap every status change goes through (Cinder's
conditional_update): `UPDATE … WHERE id = … AND <expected> RETURNING`, so a move
happens only from the state its caller saw, and whoever loses a race learns it from
the database, not from a stale read.

`expected` maps a column to a value, or to a tuple of values any of which will do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Backup,
    Group,
    GroupSnapshot,
    Job,
    Snapshot,
    Volume,
    VolumeAttachment,
    utcnow,
)
from app.errors import BadRequest
from app.volumes.kernel import jobs
from app.volumes.kernel.states import (
    BackupStatus,
    GroupSnapshotStatus,
    GroupStatus,
    SnapshotStatus,
    VolumeStatus,
)

Row = TypeVar("Row", Volume, Snapshot, Backup, Group, GroupSnapshot)
# Rows whose columns move by compare-and-swap (an attachment's status is attach_status).
Movable = TypeVar("Movable", Volume, Snapshot, Backup, Group, VolumeAttachment, GroupSnapshot)
Expected = Mapping[str, Any]


async def conditional_update(
    session: AsyncSession,
    model: type[Movable],
    row_id: str,
    expected: Expected,
    values: Mapping[str, Any],
) -> Movable | None:
    """Set `values` (and updated_at) on the row if it still matches `expected`; the
    row in its new state, or None when it no longer matched (or is gone). A row already
    in the session is refreshed from what the database returned."""
    conditions = [model.id == row_id]
    for name, want in expected.items():
        column = getattr(model, name)
        if isinstance(want, tuple | list | frozenset | set):
            conditions.append(column.in_(tuple(want)))
        elif want is None:
            conditions.append(column.is_(None))
        else:
            conditions.append(column == want)
    statement = (
        update(model)
        .where(*conditions)
        .values(updated_at=utcnow(), **values)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    moved: Movable | None = (await session.scalars(statement)).first()
    return moved


async def move(session: AsyncSession, row: Movable, expected: Expected, **values: Any) -> bool:
    """conditional_update on a loaded row: True when it moved. Either way `row` holds
    the database's state afterwards (refreshed when it did not move), so a caller can
    say what the status is now."""
    moved = await conditional_update(session, type(row), row.id, expected, values)
    if moved is None:
        await session.refresh(row)
    return moved is not None


async def transition(
    session: AsyncSession,
    row: Row,
    allowed: Sequence[str],
    to: str,
    action: str,
    **values: Any,
) -> None:
    """Move `row` from one of `allowed` to `to`, or refuse with Cinder's 400 naming
    the status it has now."""
    if not await move(session, row, {"status": tuple(allowed)}, status=to, **values):
        resource = RESOURCE_NAMES[type(row)]
        raise BadRequest(
            f"Invalid {resource}: {resource.capitalize()} {row.id} status must be "
            f"{' or '.join(allowed)} to {action}, but current status is: {row.status}."
        )


RESOURCE_NAMES: dict[type, str] = {
    Volume: "volume",
    Snapshot: "snapshot",
    Backup: "backup",
    Group: "group",
    VolumeAttachment: "attachment",
    GroupSnapshot: "group snapshot",
}


@dataclass(frozen=True)
class StateTable:
    """What the generic operations need to know of a resource's statuses."""

    # os-reset_status targets: resting statuses only; nothing would ever move a row out
    # of a transitional one that no job stands behind.
    resettable: tuple[str, ...]
    # A delete starts from these; an admin's force delete also from these (None: from
    # any status), overriding whatever job is in flight.
    deletable: tuple[str, ...]
    force_deletable: tuple[str, ...] | None
    # A backup's create job reads this resource (by this keyword of jobs.backup_reading).
    read_by_backups: str | None = None
    # The resource keeps the status it had before (Cinder's volume previous_status).
    keeps_previous: bool = False


STATE_TABLES: dict[type, StateTable] = {
    Volume: StateTable(
        VolumeStatus.RESETTABLE,
        VolumeStatus.DELETABLE,
        VolumeStatus.FORCE_DELETABLE,
        "volume_id",
        keeps_previous=True,
    ),
    Snapshot: StateTable(
        SnapshotStatus.RESETTABLE,
        SnapshotStatus.DELETABLE,
        SnapshotStatus.FORCE_DELETABLE,
        "snapshot_id",
    ),
    Backup: StateTable(BackupStatus.RESETTABLE, BackupStatus.DELETABLE, None),
    # Cinder has no force delete of a group: its volumes are force-deleted one by one.
    Group: StateTable(GroupStatus.RESETTABLE, GroupStatus.DELETABLE, GroupStatus.DELETABLE),
    # No force delete of a group snapshot either (Cinder has none).
    GroupSnapshot: StateTable(
        GroupSnapshotStatus.RESETTABLE, GroupSnapshotStatus.DELETABLE, GroupSnapshotStatus.DELETABLE
    ),
}

DELETING = "deleting"  # every resource's, while its storage is removed


async def start_delete(
    session: AsyncSession, row: Row, *, force: bool = False, **values: Any
) -> list[Job]:
    """Move `row` to 'deleting' (with `values`) from a status its state table lets a
    delete start from, or refuse with Cinder's 400. A `force` delete (os-force_delete)
    also starts from a stuck transitional status and cancels the jobs in flight on the
    row: they come back so the caller gives back what each held. Whoever calls this
    holds the row's lock (and, for a force delete, its jobs' first)."""
    table = STATE_TABLES[type(row)]
    allowed = table.deletable
    if force:
        allowed = (row.status,) if table.force_deletable is None else table.force_deletable
    await transition(session, row, allowed, DELETING, "delete", **values)
    if not force:
        return []
    return await jobs.cancel_active(session, row.id, "superseded by a force delete")


async def part_delete_failed(session: AsyncSession, model: type[Row], row_id: str) -> None:
    """A part of a row being deleted with its parts (a group's member volume, a group
    snapshot's member snapshot) could not be deleted: the row stops in error_deleting
    (deleting it again retries the parts left) instead of waiting forever."""
    await conditional_update(
        session, model, row_id, {"status": DELETING}, {"status": "error_deleting"}
    )


async def reset_status(session: AsyncSession, row: Row, status: object) -> None:
    """os-reset_status (admin), for every resource: only to a resting status, never
    under an operation in flight (its job would later find a status it does not
    expect, and what it claimed would never be given back: a stuck row is
    force-deleted instead), and only from the status the caller saw."""
    table = STATE_TABLES[type(row)]
    if status not in table.resettable:
        raise BadRequest(f"Invalid status {status!r}; use one of {', '.join(table.resettable)}.")
    resource = RESOURCE_NAMES[type(row)]
    title = f"Invalid {resource}: {resource.capitalize()} {row.id}"
    busy = await jobs.active(session, row.id)
    if busy:
        raise BadRequest(
            f"{title} has a {busy[0].kind} in flight (job {busy[0].id}); wait for it to end, "
            f"or force-delete the {resource}."
        )
    if table.read_by_backups is not None:
        reading = await jobs.backup_reading(session, **{table.read_by_backups: row.id})
        if reading is not None:
            raise BadRequest(
                f"{title} is being read by backup {reading}; wait for it to end, or "
                "force-delete the backup."
            )
    values: dict[str, Any] = {"status": str(status)}
    if table.keeps_previous:
        values["previous_status"] = row.status
    if not await move(session, row, {"status": row.status}, **values):
        raise BadRequest(f"{title} changed status meanwhile; try again.")
