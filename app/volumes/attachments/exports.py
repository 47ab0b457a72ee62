"""A volume's export: its CHAP account (made on the first export, kept sealed in
`provider_auth`), the export job that serves exactly its live attachments, and the
connection_info os-brick needs, built from what the agent's target answered."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import jobkinds
from app.db.models import Job, Volume, VolumeAttachment
from app.runtime import Runtime
from app.sealing import Sealer
from app.volumes.kernel.states import AttachStatus
from app.volumes.volumes.flows import Outcome, queue_job, volume_ref

CHAP = "CHAP"
_ALPHANUMERIC = string.ascii_letters + string.digits
# Cinder's lengths (volume_utils.generate_username / generate_password).
CHAP_USER_LENGTH = 20
CHAP_SECRET_LENGTH = 16


@dataclass(frozen=True)
class Chap:
    user: str
    secret: str = field(repr=False)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def credentials(volume: Volume, sealer: Sealer) -> Chap:
    """The volume's CHAP account; made and stored (sealed) on its first export, so every
    later export, and the agent's re-export after a restart, uses the same one."""
    if volume.provider_auth:
        _method, user, sealed = volume.provider_auth.split(" ", 2)
        return Chap(user, sealer.unseal(sealed))
    chap = Chap(_random(CHAP_USER_LENGTH), _random(CHAP_SECRET_LENGTH))
    volume.provider_auth = f"{CHAP} {chap.user} {sealer.seal(chap.secret)}"
    return chap


async def live(session: AsyncSession, volume_id: str) -> list[VolumeAttachment]:
    """The attachments that hold the volume, oldest first."""
    query = (
        select(VolumeAttachment)
        .where(
            VolumeAttachment.volume_id == volume_id,
            VolumeAttachment.attach_status.in_(AttachStatus.LIVE),
        )
        .order_by(VolumeAttachment.created_at, VolumeAttachment.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def serve(
    session: AsyncSession,
    runtime: Runtime,
    volume: Volume,
    outcome: Outcome,
    request_id: str | None,
    *,
    restore: bool = False,
) -> Job:
    """Queue what makes the volume's export match its live attachments now: an export
    to their connectors' addresses (every host of a multiattach volume stays reachable),
    or its removal when none is connected. The job is flushed, so its id is known to a
    requester that waits for it. `restore`: the agent's re-export after a restart."""
    connected = [a for a in await live(session, volume.id) if a.connector is not None]
    ref = volume_ref(volume)
    if not connected:
        job = queue_job(
            session,
            runtime,
            volume,
            jobkinds.UNEXPORT_VOLUME,
            jobkinds.VolumeJob(volume=ref),
            outcome,
            request_id,
        )
    else:
        addresses = [a.connector.get("ip") for a in connected if a.connector is not None]
        # A connector without an address cannot be bound to one: any address may log in
        # (CHAP still guards the target).
        initiators = sorted({str(ip) for ip in addresses}) if all(addresses) else []
        chap = credentials(volume, runtime.sealer)
        payload = jobkinds.ExportVolumePayload(
            volume=ref,
            chap_user=chap.user,
            chap_secret=chap.secret,
            initiators=initiators,
            read_only=all(a.attach_mode == "ro" for a in connected),
            restore=restore,
        )
        job = queue_job(
            session, runtime, volume, jobkinds.EXPORT_VOLUME, payload, outcome, request_id
        )
    await session.flush()
    return job


def connection_info(
    volume: Volume,
    attachment: VolumeAttachment,
    target: jobkinds.Exported,
    chap: Chap,
    *,
    with_secret: bool,
) -> dict[str, Any]:
    """os-brick's iSCSI connection_info; `with_secret` only for the caller that
    initializes the connection (what is stored and shown leaves the password out)."""
    data: dict[str, Any] = {
        "target_discovered": False,
        "target_iqn": target.target_iqn,
        "target_portal": target.target_portal,
        "target_lun": target.target_lun,
        "target_iqns": target.target_iqns or [target.target_iqn],
        "target_portals": target.target_portals or [target.target_portal],
        "target_luns": target.target_luns or [target.target_lun],
        "volume_id": volume.id,
        "auth_method": CHAP,
        "auth_username": chap.user,
        "access_mode": attachment.attach_mode,
        "encrypted": False,
        "discard": True,
    }
    if with_secret:
        data["auth_password"] = chap.secret
    return {"driver_volume_type": "iscsi", "data": data, "attachment_id": attachment.id}
