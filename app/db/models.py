"""SQLAlchemy 2 typed models. Every change here needs an alembic migration
(tests/db/test_migrations.py fails when the two drift)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Relationship, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no zone, so every timestamp is stored without one."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_hex_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON}


# --- columns several tables share ----------------------------------------------------
# A mixin's columns keep their place in each table: sort_order -1 puts them first, 1
# last (the table's own columns are 0).


class Owned:
    """A project's resource, made by one of its users."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid, sort_order=-1)
    project_id: Mapped[str] = mapped_column(String(64), index=True, sort_order=-1)
    user_id: Mapped[str] = mapped_column(String(64), sort_order=-1)


class Stamped:
    """When the row was made and last changed."""

    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, sort_order=1)


class Catalogued:
    """A kind of type (volume types, group types): named, public or not."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid, sort_order=-1)
    name: Mapped[str] = mapped_column(String(255), unique=True, sort_order=-1)
    description: Mapped[str | None] = mapped_column(Text, nullable=True, sort_order=-1)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=-1)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, sort_order=-1)


class KeyValue:
    """One key/value item of its owner (specs, metadata); the owner's column comes first."""

    key: Mapped[str] = mapped_column(String(255), primary_key=True, sort_order=1)
    value: Mapped[str] = mapped_column(String(255), sort_order=1)


def owner_id(table: str) -> Mapped[str]:
    """A KeyValue item's owner: part of its key, deleted with it."""
    return mapped_column(
        String(36), ForeignKey(f"{table}.id", ondelete="CASCADE"), primary_key=True
    )


def children() -> Relationship[Any]:
    """Rows that belong to their owner (specs, metadata, a group's types): loaded with it,
    deleted with it."""
    return relationship(cascade="all, delete-orphan", lazy="selectin")


class Service:
    """A service an agent reports for (a volume backend, a backup service)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-1)
    host: Mapped[str] = mapped_column(String(255), unique=True, sort_order=-1)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, sort_order=1)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True, sort_order=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, sort_order=1)


# --- identity ------------------------------------------------------------------


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="SET NULL"), nullable=True
    )
    # Every token carries the generation it was issued in; moving it on (a password
    # change) revokes all of the user's tokens at once, with no list to keep.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Agent(Base):
    """A storage agent: the identity one user (service role on project 'service') has on
    /agent/v1. Backends and backup services are bound to an agent by name."""

    __tablename__ = "agents"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SystemSecret(Base):
    """Secrets every replica must share (the token signing key)."""

    __tablename__ = "system_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RevokedToken(Base):
    """A revoked token's audit id (a password token's also revokes the tokens rescoped
    from it), kept until the token would have expired anyway."""

    __tablename__ = "revoked_tokens"
    audit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LoginFailure(Base):
    """Failed password checks of one throttle key (a user, an address, or a user from
    an address) since `window_started`: in the database, so every replica counts the
    same guesses."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started: Mapped[datetime] = mapped_column(DateTime, index=True)


# --- volume types ----------------------------------------------------------------


class VolumeType(Catalogued, Base):
    __tablename__ = "volume_types"
    # The QoS specs associated with the type (Cinder's one per type); deleting them
    # (forced) leaves the type without any.
    qos_specs_id: Mapped[str | None] = mapped_column(
        ForeignKey("qos_specs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    extra_specs: Mapped[list[VolumeTypeExtraSpec]] = children()


class VolumeTypeExtraSpec(KeyValue, Base):
    __tablename__ = "volume_type_extra_specs"
    volume_type_id: Mapped[str] = owner_id("volume_types")


class VolumeTypeProject(Base):
    """Access list of a private volume type."""

    __tablename__ = "volume_type_projects"
    volume_type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class QosSpecs(Stamped, Base):
    """Quality-of-service specs (Cinder's qos-specs): named key/value limits that volume
    types point at; `consumer` says who enforces them (back-end: the agent's driver)."""

    __tablename__ = "qos_specs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(16), default="back-end")
    items: Mapped[list[QosSpecItem]] = children()


class QosSpecItem(KeyValue, Base):
    __tablename__ = "qos_spec_items"
    qos_specs_id: Mapped[str] = owner_id("qos_specs")


# --- backends, pools and claims --------------------------------------------------


class Backend(Service, Base):
    """A cinder-volume style backend ('host@backend'): the service record plus the
    latest capability report."""

    __tablename__ = "backends"
    availability_zone: Mapped[str] = mapped_column(String(255))
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # When the database accepted the report held (its clock, never the agent's).
    reported_at: Mapped[datetime] = mapped_column(DateTime)
    # The agent's sequence number of the report held: a lower one is not applied.
    report_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # When any replica last heard from the backend: drives up/down.
    heard_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The agent (agents.name) the backend is bound to; None until its first report.
    agent_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    job_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Pool(Base):
    """One pool of a backend. `allocated_gb` is the claim ledger: the sizes of the
    live resources placed here, changed only in the transaction that changes their
    status. `limit_gb` is what the latest report allows claims to reach."""

    __tablename__ = "pools"
    __table_args__ = (UniqueConstraint("backend_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backend_id: Mapped[int] = mapped_column(ForeignKey("backends.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    allocated_gb: Mapped[float] = mapped_column(Float, default=0.0)
    reported_allocated_gb: Mapped[float] = mapped_column(Float, default=0.0)
    # Claims may reach this (thin pools: the over-subscription limit) ...
    limit_gb: Mapped[float] = mapped_column(Float, default=0.0)
    # ... or this, for a request whose type asks for thick provisioning.
    limit_thick_gb: Mapped[float] = mapped_column(Float, default=0.0)
    # False once a report stops listing the pool: it keeps its claims, takes no new ones.
    present: Mapped[bool] = mapped_column(Boolean, default=True)


# --- volumes -----------------------------------------------------------------------


class Volume(Owned, Stamped, Base):
    __tablename__ = "volumes"
    __table_args__ = (Index("ix_volumes_project_created", "project_id", "created_at"),)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    previous_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    availability_zone: Mapped[str] = mapped_column(String(255))
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id"))
    pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("pools.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # 'host@backend#pool', as Cinder's os-vol-host-attr:host.
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provider_location: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    group_id: Mapped[str | None] = mapped_column(
        ForeignKey("groups.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # Cinder's migration_status: None, or starting/migrating/completing/success/error.
    migration_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, sort_order=2)
    # Cinder's provider_auth, "CHAP <user> <secret>", with the secret sealed
    # (app/sealing.py): made on the first export, reused by every later one.
    provider_auth: Mapped[str | None] = mapped_column(Text, nullable=True, sort_order=2)
    volume_metadata: Mapped[list[VolumeMetadata]] = children()
    attachments: Mapped[list[VolumeAttachment]] = children()


@event.listens_for(Volume, "init")
def _no_attachments_yet(_target: Volume, _args: Any, kwargs: dict[str, Any]) -> None:
    # A new volume has none: views read the list without a lazy load.
    kwargs.setdefault("attachments", [])


class VolumeMetadata(KeyValue, Base):
    __tablename__ = "volume_metadata"
    volume_id: Mapped[str] = owner_id("volumes")


class VolumeAttachment(Stamped, Base):
    """One host's (or instance's) use of a volume, Cinder's volume_attachment: reserved,
    then attaching once its connector is known and the volume exported to it, attached
    when the host says so; detached rows stay as the record (Cinder's soft delete)."""

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), index=True)
    # Who made it: only they (or an admin, or a service) may delete it once connected.
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    attached_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mountpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attach_status: Mapped[str] = mapped_column(String(32), index=True)
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What os-brick needs to connect, without the CHAP secret: only the caller that
    # initializes the connection receives that.
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attach_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    detach_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# --- snapshots ---------------------------------------------------------------------


class Snapshot(Owned, Stamped, Base):
    """A point-in-time copy of a volume, on the volume's pool. `pool_id` is set while the
    snapshot holds a claim on that pool's ledger (its size), cleared when it gives it back."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_project_created", "project_id", "created_at"),)
    volume_id: Mapped[str] = mapped_column(
        ForeignKey("volumes.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("pools.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    provider_location: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    snapshot_metadata: Mapped[list[SnapshotMetadata]] = children()
    # The group snapshot it was made as a member of (3.14): deleted only with it.
    group_snapshot_id: Mapped[str | None] = mapped_column(
        ForeignKey("group_snapshots.id", ondelete="RESTRICT"), nullable=True, index=True
    )


class SnapshotMetadata(KeyValue, Base):
    __tablename__ = "snapshot_metadata"
    snapshot_id: Mapped[str] = owner_id("snapshots")


# --- backups -------------------------------------------------------------------------


class BackupService(Service, Base):
    """A cinder-backup style service: an agent with a backup repository, and the volume
    backends whose data it can read."""

    __tablename__ = "backup_services"
    # The agent (agents.name) the service is bound to; None until its first report.
    agent_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    availability_zone: Mapped[str] = mapped_column(String(255))
    # What the repository is ("posix:/srv/backups"); services that share one name it alike.
    repository: Mapped[str] = mapped_column(String(1024))
    reaches: Mapped[list[str]] = mapped_column(JSON, default=list)
    reported_at: Mapped[datetime] = mapped_column(DateTime)
    report_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    heard_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Backup(Owned, Stamped, Base):
    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_project_created", "project_id", "created_at"),)
    # No foreign key: a backup outlives its volume.
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    container: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32), index=True)
    fail_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The backup service (its host) that made it and can read it back.
    service: Mapped[str | None] = mapped_column(String(255), nullable=True)
    backup_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_timestamp: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The volume a restore in flight writes (Cinder's restore_volume_id).
    restore_volume_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # Where the driver keeps the data when not under the backup's id (Cinder's
    # service_metadata): the folder of a record imported under another id.
    service_metadata: Mapped[str | None] = mapped_column(String(255), nullable=True)


# --- groups --------------------------------------------------------------------------


class GroupType(Catalogued, Base):
    __tablename__ = "group_types"
    group_specs: Mapped[list[GroupTypeSpec]] = children()


class GroupTypeSpec(KeyValue, Base):
    __tablename__ = "group_type_specs"
    group_type_id: Mapped[str] = owner_id("group_types")


class Group(Owned, Stamped, Base):
    """A generic volume group: placed on one backend that satisfies every volume type of
    the group; its volumes are created there."""

    __tablename__ = "groups"
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    availability_zone: Mapped[str] = mapped_column(String(255))
    group_type_id: Mapped[str] = mapped_column(ForeignKey("group_types.id"))
    # 'host@backend#pool' the scheduler chose, as Cinder's group.host.
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    volume_types: Mapped[list[GroupVolumeType]] = children()
    # What a group created from a source was copied from (create-from-src, 3.14); the
    # source may be gone since, as in Cinder (no foreign key).
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class GroupVolumeType(Base):
    __tablename__ = "group_volume_types"
    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    volume_type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volume_types.id"), primary_key=True
    )


class GroupSnapshot(Owned, Stamped, Base):
    """A snapshot of every volume of a group, taken together (3.14): its members are
    snapshots whose `group_snapshot_id` is this one's."""

    __tablename__ = "group_snapshots"
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    group_type_id: Mapped[str] = mapped_column(ForeignKey("group_types.id"))


# --- quotas ----------------------------------------------------------------------------


class QuotaClass(Base):
    """Default limits ('default' class), editable through os-quota-class-sets."""

    __tablename__ = "quota_classes"
    class_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(255), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(BigInteger)


class Quota(Base):
    """A project's limit for one resource, when it differs from the default."""

    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(255), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(BigInteger)


class QuotaUsage(Base):
    """What a project uses of one resource; changed only with a guarded update in the
    transaction that creates or removes the resource."""

    __tablename__ = "quota_usages"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(255), primary_key=True)
    in_use: Mapped[int] = mapped_column(BigInteger, default=0)


# --- user messages and jobs ---------------------------------------------------------------


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_type: Mapped[str] = mapped_column(String(255))
    resource_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    event_id: Mapped[str] = mapped_column(String(255))
    action_id: Mapped[str] = mapped_column(String(16))
    detail_id: Mapped[str] = mapped_column(String(16))
    message_level: Mapped[str] = mapped_column(String(32), default="ERROR")
    user_message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Job(Base):
    """Durable work for an agent, written in the transaction of the status change that
    asks for it."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claimable", "state", "backend", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload_version: Mapped[int] = mapped_column(Integer, default=1)
    # pending -> running -> succeeded | failed  (running -> pending on a retried lease)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    lease_owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- volume transfers -----------------------------------------------------------------------


class Transfer(Stamped, Base):
    """A volume offered by its project to whoever shows the auth key (Cinder's transfers).
    Only a hash of the key is kept; an accepted transfer stays as history (Cinder keeps
    it soft-deleted) and goes with its volume."""

    __tablename__ = "transfers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid, sort_order=-1)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    salt: Mapped[str] = mapped_column(String(255))
    crypt_hash: Mapped[str] = mapped_column(String(255))
    source_project_id: Mapped[str] = mapped_column(String(64), index=True)
    destination_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
