"""QoS specs (Cinder's qos-specs): named sets of limits a volume type points at.

A type has at most one set; a set may serve many types. `consumer` says who enforces the
limits: `back-end` (the agent's driver, the default), `front-end` (the hypervisor, which
reads them from the attachment) or `both`. Nothing here enforces them: the agent is told
the back-end ones with each create job (`for_type`) and may act on them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import QosSpecItem, QosSpecs, VolumeType, utcnow
from app.errors import BadRequest, Conflict, NotFound
from app.volumes.types.specs import SpecStore, spec_text

CONSUMERS = ("front-end", "back-end", "both")
DEFAULT_CONSUMER = "back-end"
# The consumers whose limits the storage side (the agent) enforces.
AGENT_CONSUMERS = ("back-end", "both")
MAX_TEXT = 255
# Cinder's key pattern for specs (parameter_types.extra_specs).
KEY = re.compile(r"[a-zA-Z0-9-_:. /]{1,255}")


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_TEXT:
        raise BadRequest(
            f"Please specify a name for QoS specs: a non-empty string of at most "
            f"{MAX_TEXT} characters."
        )
    return name.strip()


def validate_consumer(consumer: object) -> str:
    if consumer not in CONSUMERS:
        raise BadRequest(
            f"Invalid qos specs: Valid consumer of QoS specs are: {', '.join(CONSUMERS)}"
        )
    return str(consumer)


def validate_specs(specs: dict[str, object]) -> dict[str, str]:
    """Keys as Cinder allows them; values stored as strings (numbers are accepted and
    written as text, as Cinder's database does)."""
    out: dict[str, str] = {}
    for key, value in specs.items():
        if not KEY.fullmatch(key):
            raise BadRequest(
                f"Invalid qos specs: key {key!r} must be 1 to {MAX_TEXT} of letters, digits "
                "and '-_:. /'."
            )
        out[key] = spec_text(
            value,
            f"Invalid qos specs: the value of {key} must be a string of at most "
            f"{MAX_TEXT} characters.",
        )
    return out


def parse_create(body: dict[str, object]) -> tuple[str, str, dict[str, str]]:
    """`{"name", "consumer"?, <key>: <value>...}` -> (name, consumer, specs)."""
    rest = dict(body)
    name = validate_name(rest.pop("name", None))
    consumer = validate_consumer(rest.pop("consumer", DEFAULT_CONSUMER))
    return name, consumer, validate_specs(rest)


def parse_update(body: dict[str, object]) -> dict[str, str]:
    """The keys to set (`consumer` among them, validated); a `name` is ignored, as
    Cinder ignores it (a QoS specs' name never changes)."""
    rest = {k: v for k, v in body.items() if k != "name"}
    consumer = rest.pop("consumer", None)
    changes = validate_specs(rest)
    if consumer is not None:
        changes["consumer"] = validate_consumer(consumer)
    return changes


def parse_keys(keys: object) -> list[str]:
    if not isinstance(keys, list) or not all(
        isinstance(k, str) and 0 < len(k) <= MAX_TEXT for k in keys
    ):
        raise BadRequest("'keys' must be a list of non-empty strings.")
    if len(set(keys)) != len(keys):
        raise BadRequest("'keys' must not repeat a key.")
    return keys


async def get(session: AsyncSession, qos_id: str, *, lock: bool = False) -> QosSpecs:
    """The specs, locked when asked: every change of a set's associations locks it
    first (then the type), so a delete and an associate never cross."""
    query = select(QosSpecs).where(QosSpecs.id == qos_id)
    if lock:
        query = query.with_for_update()
    found = (await session.scalars(query)).first()
    if found is None:
        raise NotFound(f"No such QoS spec {qos_id}.")
    return found


async def _name_taken(session: AsyncSession, name: str) -> bool:
    return (
        await session.scalars(select(QosSpecs.id).where(QosSpecs.name == name))
    ).first() is not None


async def create(
    session: AsyncSession, name: str, consumer: str, specs: dict[str, str]
) -> QosSpecs:
    if await _name_taken(session, name):
        raise Conflict(f"QoS Specs {name} already exists.")
    qos = QosSpecs(
        name=name,
        consumer=consumer,
        items=[QosSpecItem(key=k, value=v) for k, v in specs.items()],
    )
    session.add(qos)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same name, created meanwhile by another request
        raise Conflict(f"QoS Specs {name} already exists.") from exc
    return qos


async def set_values(session: AsyncSession, qos: QosSpecs, changes: dict[str, str]) -> None:
    specs = dict(changes)
    if "consumer" in specs:
        qos.consumer = specs.pop("consumer")
        qos.updated_at = utcnow()
    await SPECS.set(session, qos, specs)


async def delete_keys(session: AsyncSession, qos: QosSpecs, keys: Sequence[str]) -> None:
    """All the keys or none: an unknown key is a 404 and nothing is removed."""
    present = specs_of(qos)
    for key in keys:
        if key not in present:
            raise NotFound(f"QoS spec {qos.id} has no spec with key {key}.")
    for key in keys:
        await SPECS.delete(session, qos, key)
    qos.updated_at = utcnow()


async def associated_types(
    session: AsyncSession, qos: QosSpecs, *, lock: bool = False
) -> list[VolumeType]:
    query = (
        select(VolumeType)
        .where(VolumeType.qos_specs_id == qos.id)
        .order_by(VolumeType.name, VolumeType.id)
    )
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def _type(session: AsyncSession, type_id: str) -> VolumeType:
    # Cinder looks the type up by id only, with the admin's view (private ones too).
    found = (
        await session.scalars(select(VolumeType).where(VolumeType.id == type_id).with_for_update())
    ).first()
    if found is None:
        raise NotFound(f"Volume type {type_id} could not be found.")
    return found


async def associate(session: AsyncSession, qos: QosSpecs, type_id: str) -> None:
    """Point the type at these specs; a type already given other specs is refused
    (disassociate it first), one given these is left as it is."""
    vtype = await _type(session, type_id)
    if vtype.qos_specs_id == qos.id:
        return
    if vtype.qos_specs_id is not None:
        raise BadRequest(
            f"Invalid volume type: Type {type_id} is already associated with another qos "
            f"specs: {vtype.qos_specs_id}"
        )
    vtype.qos_specs_id = qos.id
    vtype.updated_at = utcnow()


async def disassociate(session: AsyncSession, qos: QosSpecs, type_id: str) -> None:
    """The type no longer points at these specs (a type pointing at others is left)."""
    vtype = await _type(session, type_id)
    if vtype.qos_specs_id == qos.id:
        vtype.qos_specs_id = None
        vtype.updated_at = utcnow()


async def disassociate_all(session: AsyncSession, qos: QosSpecs) -> None:
    for vtype in await associated_types(session, qos, lock=True):
        vtype.qos_specs_id = None
        vtype.updated_at = utcnow()
    await session.flush()


async def remove(session: AsyncSession, qos: QosSpecs, force: bool) -> None:
    """Delete the specs; while a type points at them only with `force`, which
    disassociates them first (Cinder's QoSSpecsInUse otherwise)."""
    if await associated_types(session, qos):
        if not force:
            raise BadRequest("Qos specs still in use.")
        await disassociate_all(session, qos)
    await session.delete(qos)
    await session.flush()


async def for_type(
    session: AsyncSession, type_id: str | None, consumers: Sequence[str] = AGENT_CONSUMERS
) -> dict[str, str] | None:
    """The type's QoS specs if their consumer is one of `consumers`, else None. By
    default the limits the storage side enforces (back-end or both), as the agent
    receives them in a job; the scheduler's filter functions see them whatever the
    consumer (Cinder's `qos.*`)."""
    if type_id is None:
        return None
    qos = (
        await session.scalars(
            select(QosSpecs)
            .join(VolumeType, VolumeType.qos_specs_id == QosSpecs.id)
            .where(VolumeType.id == type_id)
        )
    ).first()
    if qos is None or qos.consumer not in consumers:
        return None
    return specs_of(qos)


SPECS = SpecStore(
    QosSpecItem, "qos_specs_id", "items", "QoS spec {type_id} has no spec with key {key}."
)
specs_of = SPECS.of
