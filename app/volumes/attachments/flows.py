"""Attaching a volume to a host, Cinder's state machine on the lifecycle kernel:

    available ─reserve─▶ reserved/attaching ─connector─▶ attaching ─attached─▶ in-use
    in-use ─begin_detaching─▶ detaching ─detach (last attachment)─▶ available

Every move is a conditional update of the volume (locked by the caller) and of the
attachment; a multiattach volume takes more attachments while in-use, any other refuses
a second one. A connector (an attachment update, os-initialize_connection) queues the
export that serves every live attachment; the caller waits for it after committing
(`connect.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import Job, Volume, VolumeAttachment, utcnow
from app.errors import BadRequest, Conflict, NotFound
from app.runtime import Runtime
from app.volumes.attachments import exports
from app.volumes.attachments.results import settle
from app.volumes.kernel import lifecycle
from app.volumes.kernel.states import AttachStatus, MigrationStatus, VolumeStatus
from app.volumes.volumes.flows import Outcome

MODES = ("rw", "ro")


def _invalid(volume: Volume, why: str) -> BadRequest:
    return BadRequest(f"Invalid volume: Volume {volume.id} {why}")


def _is_readonly(volume: Volume) -> bool:
    return any(m.key == "readonly" and m.value == "True" for m in volume.volume_metadata)


def parse_connector(connector: object) -> dict[str, Any]:
    if not isinstance(connector, dict) or not connector:
        raise BadRequest("Must specify 'connector' (an object describing the host).")
    return dict(connector)


def _same_host(attachment: VolumeAttachment, connector: dict[str, Any]) -> bool:
    mine = attachment.connector or {}
    return any(
        connector.get(key) is not None and mine.get(key) == connector.get(key)
        for key in ("host", "initiator")
    ) or (
        attachment.attached_host is not None and attachment.attached_host == connector.get("host")
    )


async def get(session: AsyncSession, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
    """The caller's project's attachment (a detached one is a record, not found)."""
    query = select(VolumeAttachment).where(
        VolumeAttachment.id == attachment_id,
        VolumeAttachment.attach_status != AttachStatus.DETACHED,
    )
    if not ctx.is_admin:
        query = query.where(VolumeAttachment.project_id == ctx.project_id)
    attachment = (await session.scalars(query)).first()
    if attachment is None:
        raise NotFound(f"Volume attachment {attachment_id} could not be found.")
    return attachment


def _new(
    volume: Volume,
    ctx: RequestContext,
    status: str,
    *,
    instance_uuid: str | None = None,
    mode: str = "rw",
) -> VolumeAttachment:
    return VolumeAttachment(
        volume_id=volume.id,
        project_id=volume.project_id,
        user_id=ctx.user_id,
        instance_uuid=instance_uuid,
        attach_status=status,
        attach_mode="ro" if _is_readonly(volume) else mode,
        created_at=utcnow(),
    )


async def _detach(session: AsyncSession, attachment: VolumeAttachment) -> bool:
    """The attachment becomes a record; whether it was connected (its export changes)."""
    connected = attachment.connector is not None
    await lifecycle.move(
        session,
        attachment,
        {"attach_status": attachment.attach_status},
        attach_status=AttachStatus.DETACHED,
        detach_time=utcnow(),
        connection_info=None,
    )
    return connected


# --- the attachments API (3.27+) ---------------------------------------------------------


async def reserve(
    session: AsyncSession,
    ctx: RequestContext,
    volume: Volume,
    instance_uuid: str | None,
    mode: str | None = None,
) -> VolumeAttachment:
    """attachment_create: the volume becomes 'reserved' (from available, or in-use when
    multiattach) in one conditional update, so of two racing reservations of a volume
    that is not multiattach only one wins."""
    if mode is not None and mode not in MODES:
        raise BadRequest(f"Invalid attach mode {mode!r}: use 'rw' or 'ro'.")
    _check_not_moving(volume)
    allowed = await _take(session, volume, VolumeStatus.RESERVED)
    if allowed:
        raise _invalid(volume, f"status must be {' or '.join(allowed)}, but it is {volume.status}.")
    attachment = _new(
        volume, ctx, AttachStatus.RESERVED, instance_uuid=instance_uuid, mode=mode or "rw"
    )
    session.add(attachment)
    await session.flush()
    return attachment


async def _take(session: AsyncSession, volume: Volume, status: str) -> tuple[str, ...]:
    """Move the volume to `status` if it may take one more attachment: available, or
    in-use when multiattach, in one conditional update (of two racing reservations of
    a volume that is not multiattach, one wins). () when it moved, else the statuses
    it needed."""
    allowed = (
        (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE)
        if volume.multiattach
        else (VolumeStatus.AVAILABLE,)
    )
    expected = {"status": allowed, "multiattach": volume.multiattach}
    return () if await lifecycle.move(session, volume, expected, status=status) else allowed


def _check_not_moving(volume: Volume) -> None:
    if volume.migration_status not in MigrationStatus.RESTING:
        raise _invalid(volume, "is migrating; attach it once the migration has ended.")


async def connect(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    attachment: VolumeAttachment,
    connector: dict[str, Any],
    request_id: str | None,
) -> Job:
    """attachment_update: the attachment takes the host's connector and goes
    'attaching' with its volume; the export serving it (and every other live
    attachment) is queued. The caller commits, then waits for that job."""
    if attachment.attach_status not in AttachStatus.CONNECTABLE:
        raise _invalid(
            volume,
            f"attachment {attachment.id} is {attachment.attach_status}; it cannot be "
            "connected (delete it and create another).",
        )
    await lifecycle.transition(
        session,
        volume,
        (VolumeStatus.RESERVED, VolumeStatus.ATTACHING, VolumeStatus.IN_USE),
        VolumeStatus.ATTACHING,
        "connect a host",
    )
    mode = connector.get("mode")
    values: dict[str, Any] = {
        "attach_status": AttachStatus.ATTACHING,
        "connector": connector,
        "attached_host": connector.get("host"),
        "mountpoint": connector.get("mountpoint"),
    }
    if mode in MODES and not _is_readonly(volume):
        values["attach_mode"] = mode
    if not await lifecycle.move(
        session, attachment, {"attach_status": attachment.attach_status}, **values
    ):
        raise _invalid(volume, f"attachment {attachment.id} changed meanwhile; try again.")
    return await exports.serve(session, runtime, volume, Outcome(), request_id)


async def complete(session: AsyncSession, volume: Volume, attachment: VolumeAttachment) -> None:
    """os-complete (3.44): the host attached the volume."""
    if attachment.connection_info is None or attachment.attach_status not in (
        AttachStatus.ATTACHING,
        AttachStatus.ATTACHED,
    ):
        raise _invalid(
            volume,
            f"attachment {attachment.id} is not connected yet ({attachment.attach_status}): "
            "update it with a connector first.",
        )
    await lifecycle.move(
        session,
        attachment,
        {"attach_status": (AttachStatus.ATTACHING, AttachStatus.ATTACHED)},
        attach_status=AttachStatus.ATTACHED,
        attach_time=attachment.attach_time or utcnow(),
    )
    await lifecycle.transition(
        session,
        volume,
        (VolumeStatus.ATTACHING, VolumeStatus.RESERVED, VolumeStatus.IN_USE),
        VolumeStatus.IN_USE,
        "complete an attachment",
        attach_status=AttachStatus.ATTACHED,
    )


def check_may_delete(ctx: RequestContext, attachment: VolumeAttachment) -> None:
    """OSSA-2023-003: a connected attachment is removed by the one who made it (its
    instance's user), a service or an admin; anyone else would pull the volume from
    under a host that still uses it."""
    if attachment.connection_info is None or ctx.is_admin or ctx.is_service:
        return
    if attachment.user_id != ctx.user_id:
        raise Conflict(
            f"Detach volume from instance {attachment.instance_uuid} using the Compute API"
        )


async def remove(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    attachment: VolumeAttachment,
    request_id: str | None,
) -> tuple[list[VolumeAttachment], Outcome]:
    """attachment_delete: the attachment goes; the export follows the ones left (removed
    with the last); the volume rests where those say. The attachments left come back."""
    if volume.status == VolumeStatus.EXTENDING:
        # Its extend ends where the volume rested (in-use); settling it now would lose
        # the extend, and the size its job is growing the volume to.
        raise _invalid(volume, "is being extended; delete the attachment once it ends.")
    outcome = Outcome()
    if await _detach(session, attachment):
        await exports.serve(session, runtime, volume, outcome, request_id)
    await settle(session, volume)
    return await exports.live(session, volume.id), outcome


# --- the volume actions (Nova's older attach protocol) -------------------------------------


async def os_reserve(session: AsyncSession, volume: Volume) -> None:
    allowed = await _take(session, volume, VolumeStatus.ATTACHING)
    if allowed:
        raise BadRequest(
            f"Invalid volume: Volume status must be {' or '.join(allowed)} to reserve, "
            f"but the status is {volume.status}."
        )


async def os_unreserve(
    session: AsyncSession, runtime: Runtime, volume: Volume, request_id: str | None
) -> Outcome:
    """Give back a reservation that never attached: connections it made go."""
    outcome = Outcome()
    if volume.status != VolumeStatus.ATTACHING:
        return outcome
    changed = False
    for attachment in await exports.live(session, volume.id):
        if attachment.attach_status == AttachStatus.ATTACHING and attachment.attach_time is None:
            changed |= await _detach(session, attachment)
    if changed:
        await exports.serve(session, runtime, volume, outcome, request_id)
    await settle(session, volume)
    return outcome


async def os_begin_detaching(session: AsyncSession, volume: Volume) -> None:
    if volume.migration_status in MigrationStatus.RESTING and await lifecycle.move(
        session,
        volume,
        {"status": VolumeStatus.IN_USE, "attach_status": AttachStatus.ATTACHED},
        status=VolumeStatus.DETACHING,
    ):
        return
    raise BadRequest(
        "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
        "attach_status must be 'attached' to detach."
    )


async def os_roll_detaching(session: AsyncSession, volume: Volume) -> None:
    await lifecycle.move(
        session, volume, {"status": VolumeStatus.DETACHING}, status=VolumeStatus.IN_USE
    )


async def os_initialize_connection(
    session: AsyncSession,
    runtime: Runtime,
    ctx: RequestContext,
    volume: Volume,
    connector: dict[str, Any],
    request_id: str | None,
) -> tuple[VolumeAttachment, Job]:
    """The host's connection: the live attachment of this host takes the connector, or
    a new one is made; then as attachment_update. Cinder connects an available volume
    too (a host may connect before it reserves): it is reserved here, in the same
    conditional update as os-reserve's, so a racing reservation loses; the volume shows
    'attaching' (Cinder's stays 'available') while a host is connected to it."""
    if volume.status == VolumeStatus.AVAILABLE:
        _check_not_moving(volume)
        if await _take(session, volume, VolumeStatus.ATTACHING):
            raise _invalid(volume, "was reserved meanwhile; try again.")
    elif volume.status not in (
        VolumeStatus.ATTACHING,
        VolumeStatus.RESERVED,
        VolumeStatus.IN_USE,
    ):
        raise _invalid(
            volume,
            "status must be available, attaching or in-use to initialize a connection, "
            f"but current status is: {volume.status}.",
        )
    live = await exports.live(session, volume.id)
    mine = next((a for a in live if _same_host(a, connector)), None)
    if mine is None:
        if live and not volume.multiattach:
            raise _invalid(volume, "is not multiattach and is already attached to another host.")
        mine = _new(volume, ctx, AttachStatus.RESERVED)
        session.add(mine)
        await session.flush()
    if volume.status == VolumeStatus.IN_USE and mine.attach_status == AttachStatus.ATTACHED:
        # A host connecting again: the volume stays in use.
        await lifecycle.move(
            session, mine, {"attach_status": AttachStatus.ATTACHED}, connector=connector
        )
        return mine, await exports.serve(session, runtime, volume, Outcome(), request_id)
    return mine, await connect(session, runtime, volume, mine, connector, request_id)


async def os_terminate_connection(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    connector: dict[str, Any],
    request_id: str | None,
) -> Outcome:
    """The host's connection goes: its attachments keep their record but no connector,
    and the export serves the others (or goes). One that never attached (a connection
    without os-attach) goes with it, and a volume that has no attachment left is
    available again, as it was before that host connected."""
    outcome = Outcome()
    changed = dropped = False
    for attachment in await exports.live(session, volume.id):
        if attachment.connector is None or not _same_host(attachment, connector):
            continue
        if attachment.attach_time is None and attachment.attach_status in (
            AttachStatus.RESERVED,
            AttachStatus.ATTACHING,
        ):
            changed |= await _detach(session, attachment)
            dropped = True
            continue
        changed |= await lifecycle.move(
            session,
            attachment,
            {"attach_status": attachment.attach_status},
            connector=None,
            connection_info=None,
        )
    if changed:
        await exports.serve(session, runtime, volume, outcome, request_id)
    if dropped and volume.status == VolumeStatus.ATTACHING:
        if not await exports.live(session, volume.id):
            await settle(session, volume)
    return outcome


async def os_attach(
    session: AsyncSession,
    ctx: RequestContext,
    volume: Volume,
    *,
    instance_uuid: str | None,
    host_name: str | None,
    mountpoint: str | None,
    mode: str,
) -> None:
    """The host (an instance, or a bare host) has attached the volume."""
    if instance_uuid and host_name:
        raise BadRequest(
            f"Invalid request to attach volume to an instance {instance_uuid} and a host "
            f"{host_name} simultaneously"
        )
    if not instance_uuid and not host_name:
        raise BadRequest("Invalid request to attach volume to an invalid target")
    if mode not in MODES:
        raise BadRequest(
            "Invalid request to attach volume with an invalid mode. Attaching mode "
            "should be 'rw' or 'ro'"
        )
    if _is_readonly(volume) and mode != "ro":
        raise BadRequest(f"Invalid attaching mode '{mode}' for volume {volume.id}.")
    allowed = (VolumeStatus.ATTACHING, VolumeStatus.RESERVED) + (
        (VolumeStatus.IN_USE,) if volume.multiattach else ()
    )
    if volume.status not in allowed:
        raise _invalid(
            volume, f"status must be {' or '.join(allowed)} to attach, but it is {volume.status}."
        )
    live = await exports.live(session, volume.id)
    waiting = [
        a for a in live if a.attach_status in (AttachStatus.RESERVED, AttachStatus.ATTACHING)
    ]
    mine = next(
        (
            a
            for a in waiting
            if (instance_uuid and a.instance_uuid == instance_uuid)
            or (host_name and a.attached_host == host_name)
        ),
        next((a for a in waiting if a.instance_uuid is None), None),
    )
    if mine is None:
        mine = _new(volume, ctx, AttachStatus.ATTACHING)
        session.add(mine)
        await session.flush()
    await lifecycle.move(
        session,
        mine,
        {"attach_status": mine.attach_status},
        attach_status=AttachStatus.ATTACHED,
        instance_uuid=instance_uuid,
        attached_host=host_name or mine.attached_host,
        mountpoint=mountpoint,
        attach_mode=mode,
        attach_time=utcnow(),
    )
    await lifecycle.transition(
        session, volume, allowed, VolumeStatus.IN_USE, "attach", attach_status=AttachStatus.ATTACHED
    )


async def os_detach(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    attachment_id: str | None,
    request_id: str | None,
    *,
    force: bool = False,
) -> Outcome:
    """The host has let the volume go (os-force_detach: whatever its status). Without
    an attachment id, the one attachment (force: every attachment) goes."""
    if not force and volume.status not in (
        VolumeStatus.DETACHING,
        VolumeStatus.IN_USE,
        VolumeStatus.ATTACHING,
    ):
        raise _invalid(
            volume, f"status must be detaching or in-use to detach, but it is {volume.status}."
        )
    live = await exports.live(session, volume.id)
    if attachment_id is not None:
        going = [a for a in live if a.id == attachment_id]
        if not going:
            raise NotFound(f"Volume attachment {attachment_id} could not be found.")
    elif len(live) > 1 and not force:
        raise _invalid(
            volume, "detach failed: more than one attachment, but no attachment_id provided."
        )
    else:
        going = live
    outcome = Outcome()
    connected = False
    for attachment in going:
        connected |= await _detach(session, attachment)
    if connected:
        await exports.serve(session, runtime, volume, outcome, request_id)
    await settle(session, volume)
    return outcome


async def check_detached(session: AsyncSession, volume: Volume, doing: str) -> None:
    """Refuse what an attached volume cannot go through yet (a delete, a migration, a
    retype by migration, a reset to 'available')."""
    if await exports.live(session, volume.id):
        raise _invalid(volume, f"has attachments; detach it before you {doing}.")


async def check_reset(session: AsyncSession, volume: Volume, status: object) -> None:
    """os-reset_status cannot make a volume in-use without attachments, nor available
    with them."""
    attached = bool(await exports.live(session, volume.id))
    if status == VolumeStatus.IN_USE and not attached:
        raise _invalid(volume, "has no attachments: it cannot be in-use.")
    if status == VolumeStatus.AVAILABLE and attached:
        raise _invalid(volume, "has attachments: it cannot be available.")
