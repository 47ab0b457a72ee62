"""Volume transfers (Cinder's cinder/transfer/api.py): a project offers one of its
volumes, whoever shows the auth key takes it, data and id unchanged.

- create: the caller's 'available' volume (its snapshots all 'available' unless the
  transfer leaves them behind) goes to 'awaiting-transfer'; the transfer keeps a salt
  and an Argon2 hash of salt + key, the key itself is answered once and kept nowhere.
- accept: in one transaction the volume (and, unless `no_snapshots`, its snapshots)
  changes project and user, the quota they count moves from the donor to the accepting
  project (which must have room: 413 otherwise), the volume is 'available' again and
  the transfer is marked accepted (Cinder soft-deletes it: it is no longer listed).
- cancel (delete): the transfer goes, the volume is 'available' again.

Lock order: the volume, then its transfer (every flow here, and a volume's delete),
then snapshots, then quota. Of two accepts at once the second finds the transfer
accepted once it holds the volume, and is refused."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Snapshot, Transfer, Volume
from app.errors import BadRequest, NotFound
from app.identity.passwords import hash_password_async, verify_password_async
from app.runtime import Runtime
from app.volumes.kernel import lifecycle, quotas
from app.volumes.kernel.repository import VOLUMES
from app.volumes.kernel.states import SnapshotStatus, VolumeStatus

# Cinder's volume_transfer_key_length and volume_transfer_salt_length defaults.
KEY_LENGTH = 16
SALT_LENGTH = 8


@dataclass(frozen=True)
class NewTransfer:
    volume_id: str
    name: str | None = None
    no_snapshots: bool = False


def _random(length: int) -> str:
    return secrets.token_hex(length)[:length]


def visible(
    query: Select[tuple[Transfer]], ctx: RequestContext, all_tenants: bool
) -> Select[tuple[Transfer]]:
    """The transfers a list shows: the caller's project's pending ones (an admin's: every
    project's with all_tenants). Accepted ones are history, shown to nobody."""
    query = query.where(Transfer.accepted.is_(False))
    if ctx.is_admin and all_tenants:
        return query
    return query.where(Transfer.source_project_id == ctx.project_id)


async def get(session: AsyncSession, ctx: RequestContext, transfer_id: str) -> Transfer:
    """The caller's pending transfer (an admin's: any); another project's is not found."""
    query = select(Transfer).where(Transfer.id == transfer_id, Transfer.accepted.is_(False))
    if not ctx.is_admin:
        query = query.where(Transfer.source_project_id == ctx.project_id)
    transfer = (await session.scalars(query)).first()
    if transfer is None:
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    return transfer


async def create(
    session: AsyncSession, ctx: RequestContext, spec: NewTransfer
) -> tuple[Transfer, str]:
    """The transfer and its auth key (to answer once)."""
    volume = await VOLUMES.get(session, ctx, spec.volume_id, for_update=True)
    if volume.group_id is not None:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} belongs to group {volume.group_id}; "
            "remove it from the group before transferring it."
        )
    pending = await session.scalar(
        select(Transfer.id).where(Transfer.volume_id == volume.id, Transfer.accepted.is_(False))
    )
    if pending is not None:
        # An admin's os-reset_status may have made it 'available' again meanwhile.
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} is already offered by transfer {pending}; "
            "delete that transfer first."
        )
    if not spec.no_snapshots:
        busy = (
            await session.scalars(
                select(Snapshot.id).where(
                    Snapshot.volume_id == volume.id, Snapshot.status != SnapshotStatus.AVAILABLE
                )
            )
        ).first()
        if busy is not None:
            raise BadRequest(f"Invalid snapshot: snapshot: {busy} status must be available")
    await lifecycle.transition(
        session,
        volume,
        (VolumeStatus.AVAILABLE,),
        VolumeStatus.AWAITING_TRANSFER,
        "transfer",
        previous_status=volume.status,
    )
    salt, auth_key = _random(SALT_LENGTH), _random(KEY_LENGTH)
    transfer = Transfer(
        volume_id=volume.id,
        display_name=spec.name,
        salt=salt,
        crypt_hash=await hash_password_async(salt + auth_key),
        source_project_id=volume.project_id,
        no_snapshots=spec.no_snapshots,
    )
    session.add(transfer)
    await session.flush()
    return transfer, auth_key


async def cancel(session: AsyncSession, ctx: RequestContext, transfer_id: str) -> None:
    """Delete a pending transfer: its volume is 'available' again."""
    transfer = await get(session, ctx, transfer_id)
    volume = await VOLUMES.lock(session, transfer.volume_id)
    gone = await session.execute(
        delete(Transfer).where(Transfer.id == transfer.id, Transfer.accepted.is_(False))
    )
    if gone.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    if volume is not None:
        await lifecycle.move(
            session,
            volume,
            {"status": VolumeStatus.AWAITING_TRANSFER},
            status=VolumeStatus.AVAILABLE,
        )


async def accept(
    session: AsyncSession, runtime: Runtime, ctx: RequestContext, transfer_id: str, auth_key: str
) -> Transfer:
    """Give the volume to the caller's project; the accepted transfer."""
    transfer = await session.get(Transfer, transfer_id)
    if transfer is None or transfer.accepted:
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    verdict = await verify_password_async(transfer.crypt_hash, transfer.salt + auth_key)
    if not verdict.ok:
        raise BadRequest(
            f"Invalid auth key: Attempt to transfer {transfer_id} with invalid auth key."
        )
    volume = await VOLUMES.lock(session, transfer.volume_id)
    taken = await session.execute(
        update(Transfer)
        .where(Transfer.id == transfer.id, Transfer.accepted.is_(False))
        .values(accepted=True, destination_project_id=ctx.project_id)
        .execution_options(synchronize_session=False)
    )
    if volume is None or taken.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"Transfer {transfer_id} could not be found.")
    if volume.status != VolumeStatus.AWAITING_TRANSFER:
        raise BadRequest(
            f"Invalid volume: Volume {volume.id} status must be "
            f"{VolumeStatus.AWAITING_TRANSFER} to accept its transfer, but current status "
            f"is: {volume.status}."
        )
    await _move_quota(
        session, runtime, volume, ctx.project_id, with_snapshots=not transfer.no_snapshots
    )
    if not transfer.no_snapshots:
        await session.execute(
            update(Snapshot)
            .where(Snapshot.volume_id == volume.id)
            .values(project_id=ctx.project_id, user_id=ctx.user_id)
            .execution_options(synchronize_session=False)
        )
    await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.AWAITING_TRANSFER},
        status=VolumeStatus.AVAILABLE,
        project_id=ctx.project_id,
        user_id=ctx.user_id,
    )
    await session.refresh(transfer)
    return transfer


async def _move_quota(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    to_project: str,
    *,
    with_snapshots: bool,
) -> None:
    """What the volume (and its snapshots) count, taken by `to_project` (OverQuota when
    it has no room: nothing moves) and given back by the donor."""
    settings = runtime.settings
    donor = volume.project_id
    moved = {"volumes": 1, "gigabytes": volume.size}
    await quotas.consume(session, settings, to_project, moved)
    if with_snapshots:
        # A snapshot of size 0 (a manage that never succeeded) counts nothing.
        count, size = (
            await session.execute(
                select(func.count(Snapshot.id), func.coalesce(func.sum(Snapshot.size), 0)).where(
                    Snapshot.volume_id == volume.id, Snapshot.size > 0
                )
            )
        ).one()
        if count:
            snapshot_quota = {"snapshots": int(count), "gigabytes": int(size)}
            # per_volume_gigabytes limits volumes, not their snapshots.
            await quotas.consume(session, settings, to_project, snapshot_quota, volume_size=0)
            await quotas.release(session, donor, snapshot_quota)
    await quotas.release(session, donor, moved)


async def forget_volume(session: AsyncSession, volume_id: str) -> None:
    """The volume is being deleted: its pending transfers go (accepted ones go with its
    row). The caller holds the volume's lock."""
    await session.execute(
        delete(Transfer)
        .where(Transfer.volume_id == volume_id, Transfer.accepted.is_(False))
        .execution_options(synchronize_session=False)
    )
