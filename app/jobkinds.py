"""The job catalog: every kind of job the API queues and an agent runs, declared once.

A kind is its name, the version of its payload, the pydantic models of its payload and
of its result, the resource it acts on and the flags either end needs. Both ends read
this one table:

- the API builds every payload through the kind's model (`app/volumes/kernel/jobs.py`
  `enqueue`), reads payloads back through it, and registers the success and failure
  handlers of each kind in `app/volumes/results.py` (`RESULTS`);
- the agent looks a claimed job up here by (name, version), validates its payload into
  the model before its handler runs (`app/agent/jobs.py`, `app/agent/backup.py`), and
  posts the result dumped from the result model.

The wire form is the models' JSON dump (docs/CONTRACTS.md, "Job kinds"). A payload
whose shape changes gets a new version, declared here next to the old one, so agents
and the API of different releases keep understanding each other.

This module imports only pydantic: the agent reads it without the API or the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    ValidationError,
    model_serializer,
)


class InvalidJobData(ValueError):
    """A payload or result that does not fit its kind's model; the message is one
    readable line (it becomes the job's error, then a user message)."""


class Wire(BaseModel):
    """A payload, a result, or a part of one. Unknown keys are ignored: an older agent
    reads a payload a newer API sent at the same version."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    # Keys left out of the wire form when None: their absence is how the payload says
    # "none" (a create_backup of a volume rather than of a snapshot).
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        omit = {key for key in self.OMIT_WHEN_NONE if getattr(self, key) is None}
        return self.model_dump(mode="json", exclude=omit or None)


# --- the objects payloads are made of -----------------------------------------------------


class VolumeRef(Wire):
    """VOL: a volume as the agent sees it. size_gb 0: not known (a managed volume)."""

    id: str
    size_gb: StrictInt
    name: str | None = None
    pool: str | None = None
    host: str | None = None  # 'node@backend#pool'
    provider_location: str | None = None


class SnapshotRef(Wire):
    """SNAP: a snapshot as the agent sees it."""

    id: str
    size_gb: StrictInt
    volume_id: str
    name: str | None = None
    provider_location: str | None = None


class BackupRef(Wire):
    id: str
    container: str | None = None
    volume_id: str | None = None
    # The name of the backup's folder in its container when it is not its id (a record
    # imported under another id); None: the id.
    folder: str | None = None

    @property
    def stored_as(self) -> str:
        return self.folder or self.id

    @model_serializer(mode="wrap")
    def _leave_out_no_folder(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Nested in payloads, where OMIT_WHEN_NONE (top level only) does not reach.
        data: dict[str, Any] = handler(self)
        if data.get("folder") is None:
            data.pop("folder", None)
        return data


class PlacementRequest(Wire):
    """What a create asked of the scheduler: a failed create is rescheduled from it."""

    availability_zone: str | None = None
    scheduler_hints: dict[str, Any] = {}


# --- payloads -------------------------------------------------------------------------------

# QoS specs of the volume's type whose consumer is the back end ({key: value}), or None.
QosSpecs = dict[str, str] | None


class VolumeJob(Wire):
    volume: VolumeRef


class CreateVolumePayload(VolumeJob):
    request: PlacementRequest | None = None
    qos_specs: QosSpecs = None


class ExtendVolumePayload(VolumeJob):
    new_size_gb: StrictInt
    # The volume is attached (3.42): its export must show the new size too. An older
    # API leaves it out: not attached.
    attached: StrictBool = False


class ManageVolumePayload(VolumeJob):
    OMIT_WHEN_NONE = frozenset({"adopt"})
    ref: dict[str, Any]  # {"source-name": str}
    # True: the ref may name storage with the driver's own volume name (an unmanaged
    # volume's: the API found no volume of that id). Left out otherwise, so the
    # payload is what it was; an older agent ignores it and refuses such a name.
    adopt: StrictBool | None = None


class CloneVolumePayload(VolumeJob):
    source: VolumeRef  # same pool
    qos_specs: QosSpecs = None


class SourceExport(Wire):
    """Where a target agent reads a source it does not hold (a copy between agents): the
    source agent's read-only export of it (`export_for_copy`), and the sha256 of its
    `bytes` bytes, read by that agent, that the copy must match. The CHAP secret travels
    beside it, sealed (`MigrateVolumePayload.source_chap_secret`)."""

    target_portal: str
    target_iqn: str
    target_lun: StrictInt
    chap_user: str
    sha256: str
    bytes: StrictInt


class MigrateVolumePayload(VolumeJob):
    """`volume` as it is on its source; `target` as it will be on the target pool. The
    payload is the record of the target's claim (pool id, size), for the result or the
    reaper to give back exactly that. With `source_export` the source is another agent's:
    the target agent reads it over iSCSI instead of locally."""

    OMIT_WHEN_NONE = frozenset({"source_export", "source_chap_secret"})
    target: VolumeRef
    target_pool_id: StrictInt
    thin: StrictBool = True
    new_type_id: str | None = None  # a retype by migration
    qos_specs: QosSpecs = None
    source_export: SourceExport | None = None
    source_chap_secret: str | None = Field(default=None, repr=False)


class RemoveVolumeCopyPayload(VolumeJob):
    """`volume` is the copy to remove; never the storage of `keep` (None: the volume
    lives nowhere). `unexport`: the copy was exported for a copy to another agent
    (`export_for_copy`); that export goes first."""

    OMIT_WHEN_NONE = frozenset({"unexport"})
    keep: VolumeRef | None = None
    unexport: StrictBool | None = None


class SnapshotJob(Wire):
    snapshot: SnapshotRef


class CreateSnapshotPayload(SnapshotJob):
    volume: VolumeRef


class ManageSnapshotPayload(SnapshotJob):
    OMIT_WHEN_NONE = frozenset({"adopt"})
    volume: VolumeRef
    ref: dict[str, Any]
    adopt: StrictBool | None = None  # as ManageVolumePayload's, for a snapshot's name


class CreateBackupPayload(Wire):
    OMIT_WHEN_NONE = frozenset({"snapshot", "parent"})
    backup: BackupRef
    volume: VolumeRef
    snapshot: SnapshotRef | None = None  # a backup of this snapshot, not of the volume
    # An incremental backup: the backup it builds on (an agent that stores only changed
    # chunks reads it; one that does not stores a full backup, which restores the same).
    parent: BackupRef | None = None


class DeleteBackupPayload(Wire):
    backup: BackupRef
    # Whether the backup held quota when its delete began ('deleting' does not say).
    quota_held: StrictBool = True


class RestoreBackupPayload(Wire):
    """Write the backup into the volume (its local path on its backend, which this
    backup service reaches). `create`: the volume is new, its storage is created first
    (as create_volume would: `qos_specs` are the type's back-end ones)."""

    backup: BackupRef
    volume: VolumeRef
    create: StrictBool = False
    qos_specs: QosSpecs = None


class ImportBackupPayload(Wire):
    """Check that the backup's manifest exists in this service's repository and reads."""

    backup: BackupRef


class ExportVolumePayload(VolumeJob):
    """Export the volume to exactly these initiators (connector addresses; none: any
    address) with the volume's CHAP account. `chap_secret` travels sealed in the jobs
    table and is opened only when the job is handed to its agent (JobKind.sealed)."""

    chap_user: str
    chap_secret: str = Field(repr=False)
    initiators: list[str] = []
    read_only: StrictBool = False
    # Queued by an agent's restore after its restart (no request waits for it): a
    # failure puts the volume in error instead of failing a connecting attachment.
    restore: StrictBool = False


# --- results --------------------------------------------------------------------------------


class NoResult(Wire):
    pass


class Created(Wire):
    provider_location: str | None = None


class Managed(Wire):
    """The storage taken over, as its driver measured it (Cinder's get_size)."""

    size_gb: StrictInt = Field(ge=1)
    provider_location: str | None = None


class Migrated(Wire):
    provider_location: str | None = None
    sha256: str | None = None
    bytes: StrictInt | None = None


class Exported(Wire):
    """The connection properties os-brick names, as the export's target answers them."""

    target_iqn: str
    target_portal: str
    target_lun: StrictInt
    target_iqns: list[str] = []
    target_portals: list[str] = []
    target_luns: list[StrictInt] = []


class BackupCreated(Wire):
    object_count: StrictInt
    size_bytes: StrictInt
    stored_bytes: StrictInt
    sha256: str


# --- copies between agents (docs/CONTRACTS.md, "Migration") -------------------------------


# The backend capability an agent reports the address it reads other agents' exports
# from under (its backend's `target_ip_address`, Cinder's my_ip): a copy's export admits
# only that address.
INITIATOR_IP = "initiator_ip"


class CopyExportPayload(VolumeJob):
    """Export `volume` read-only, for a copy, to the initiator addresses of the agent that
    will read it, with a CHAP account of its own (the secret sealed in the jobs table).
    `migration` is the `migrate_volume` job to queue once the export stands: the record
    of the target's claim, for the failure to give back exactly that."""

    chap_user: str
    chap_secret: str = Field(repr=False)
    initiators: list[str] = []
    migration: MigrateVolumePayload


class CopyExported(Exported):
    """The export for a copy, and the sha256 of the source's `bytes` bytes."""

    sha256: str
    bytes: StrictInt


class BackupRestored(Wire):
    size_bytes: StrictInt
    sha256: str
    # Set when the restore created the volume's storage (the create's answer).
    provider_location: str | None = None


class BackupImported(Wire):
    object_count: StrictInt
    size_bytes: StrictInt


# --- the catalog ----------------------------------------------------------------------------

P = TypeVar("P", bound=Wire)
R = TypeVar("R", bound=Wire)


class Resource(StrEnum):
    """What a job acts on (Job.resource_type)."""

    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    BACKUP = "backup"


class Runner(StrEnum):
    """Which part of an agent runs the job: the driver of a volume backend, or the
    backup service (the job is queued on that service's host)."""

    VOLUME_BACKEND = "volume backend"
    BACKUP_SERVICE = "backup service"


@dataclass(frozen=True, eq=False)
class JobKind(Generic[P, R]):
    name: str
    version: int
    payload: type[P]
    result: type[R]
    resource: Resource
    runs_on: Runner = Runner.VOLUME_BACKEND
    # The agent sends a fresh capability report after it, so the scheduler sees the change.
    changes_capacity: bool = True
    # The agent's handler also reaches the agent's other backends (a copy between them).
    needs_peers: bool = False
    # A job on a copy the volume no longer uses: operations on the volume neither wait
    # for it nor cancel it, or the copy would be left behind.
    detached: bool = False
    # Payload members (top level) the jobs table keeps sealed (app/sealing.py): the
    # queue seals them, the claim opens them for the agent and nobody else.
    sealed: tuple[str, ...] = ()
    # What the API does with a result that does not fit `result`. By default it is the
    # agent's mistake: refused (400), and the job waits for a valid report or its lease's
    # end. True: the result is the storage's answer to what the user asked (the size of
    # the storage to manage), so, as in Cinder, the job fails with what is wrong.
    invalid_result_fails: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.version

    def dump(self, payload: P) -> dict[str, Any]:
        """The wire form of a payload of this kind (what the API stores and sends)."""
        if type(payload) is not self.payload:
            raise TypeError(f"{self.name} takes a {self.payload.__name__}, not {payload!r}")
        return payload.wire()

    def load(self, data: Mapping[str, Any] | None) -> P:
        """The payload of a job of this kind; InvalidJobData when it does not fit."""
        return _validate(self.payload, data, "invalid job payload")

    def load_result(self, data: Mapping[str, Any] | None) -> R:
        return _validate(self.result, data, "invalid job result")

    def dump_result(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """What an agent posts for a handler's output: validated, then dumped."""
        return self.load_result(data).wire()

    def __repr__(self) -> str:
        return f"JobKind({self.name!r}, {self.version})"


def _validate(model: type[Any], data: Mapping[str, Any] | None, what: str) -> Any:
    try:
        return model.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise InvalidJobData(f"{what}: {explain(exc)}") from None


_EXPECTED = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def explain(exc: ValidationError) -> str:
    """Pydantic's errors as one short line: 'no volume', 'ref must be an object'."""
    out = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        if error["type"] == "missing":
            out.append(f"no {where}")
        elif error["type"] in _EXPECTED:
            out.append(f"{where} must be {_EXPECTED[error['type']]}")
        elif error["type"] == "greater_than_equal":
            out.append(f"{where} must be at least {error['ctx']['ge']}")
        else:
            out.append(f"{where}: {error['msg']}")
    return "; ".join(out)


# The kinds. The API imports these constants, never spells a kind's name.
CREATE_VOLUME = JobKind("create_volume", 1, CreateVolumePayload, Created, Resource.VOLUME)
DELETE_VOLUME = JobKind("delete_volume", 1, VolumeJob, NoResult, Resource.VOLUME)
EXTEND_VOLUME = JobKind("extend_volume", 1, ExtendVolumePayload, NoResult, Resource.VOLUME)
MANAGE_VOLUME = JobKind(
    "manage_volume", 1, ManageVolumePayload, Managed, Resource.VOLUME, invalid_result_fails=True
)
CLONE_VOLUME = JobKind("clone_volume", 1, CloneVolumePayload, Created, Resource.VOLUME)
MIGRATE_VOLUME = JobKind(
    "migrate_volume",
    1,
    MigrateVolumePayload,
    Migrated,
    Resource.VOLUME,
    needs_peers=True,
    sealed=("source_chap_secret",),
)
REMOVE_VOLUME_COPY = JobKind(
    "delete_volume_copy",
    1,
    RemoveVolumeCopyPayload,
    NoResult,
    Resource.VOLUME,
    needs_peers=True,
    detached=True,
)
CREATE_SNAPSHOT = JobKind("create_snapshot", 1, CreateSnapshotPayload, Created, Resource.SNAPSHOT)
DELETE_SNAPSHOT = JobKind("delete_snapshot", 1, SnapshotJob, NoResult, Resource.SNAPSHOT)
MANAGE_SNAPSHOT = JobKind(
    "manage_snapshot",
    1,
    ManageSnapshotPayload,
    Managed,
    Resource.SNAPSHOT,
    invalid_result_fails=True,
)
CREATE_BACKUP = JobKind(
    "create_backup",
    1,
    CreateBackupPayload,
    BackupCreated,
    Resource.BACKUP,
    runs_on=Runner.BACKUP_SERVICE,
    changes_capacity=False,
)
DELETE_BACKUP = JobKind(
    "delete_backup",
    1,
    DeleteBackupPayload,
    NoResult,
    Resource.BACKUP,
    runs_on=Runner.BACKUP_SERVICE,
    changes_capacity=False,
)
RESTORE_BACKUP = JobKind(
    "restore_backup",
    1,
    RestoreBackupPayload,
    BackupRestored,
    Resource.BACKUP,
    runs_on=Runner.BACKUP_SERVICE,
    changes_capacity=False,
)
IMPORT_BACKUP = JobKind(
    "import_backup",
    1,
    ImportBackupPayload,
    BackupImported,
    Resource.BACKUP,
    runs_on=Runner.BACKUP_SERVICE,
    changes_capacity=False,
)
EXPORT_VOLUME = JobKind(
    "export_volume",
    1,
    ExportVolumePayload,
    Exported,
    Resource.VOLUME,
    changes_capacity=False,
    sealed=("chap_secret",),
)
UNEXPORT_VOLUME = JobKind(
    "unexport_volume", 1, VolumeJob, NoResult, Resource.VOLUME, changes_capacity=False
)
# A copy between agents: the source agent's read-only export of the volume, removed
# again when the copy failed (after a success `delete_volume_copy` removes it).
EXPORT_FOR_COPY = JobKind(
    "export_for_copy",
    1,
    CopyExportPayload,
    CopyExported,
    Resource.VOLUME,
    changes_capacity=False,
    sealed=("chap_secret",),
)
UNEXPORT_FOR_COPY = JobKind(
    "unexport_for_copy",
    1,
    VolumeJob,
    NoResult,
    Resource.VOLUME,
    changes_capacity=False,
    detached=True,
)

# --- unmanage and manageable listings ---------------------------------------------------------


class ListManageablePayload(Wire):
    """What the backend holds that the database does not: `known_ids` are the ids of the
    volumes (or snapshots) the database has on the backend, so the driver can say which
    storage is already managed (Cinder's cinder_volumes / cinder_snapshots)."""

    known_ids: list[str] = []


class ManageableItem(Wire):
    """One piece of storage, as Cinder's get_manageable_volumes/snapshots give it."""

    reference: dict[str, Any]
    size: StrictInt  # GiB, rounded up
    safe_to_manage: StrictBool
    reason_not_safe: str | None = None
    cinder_id: str | None = None
    extra_info: str | None = None
    # Snapshots: the storage of the volume it is a snapshot of.
    source_reference: dict[str, Any] | None = None


class ManageableList(Wire):
    items: list[ManageableItem] = []


UNMANAGE_VOLUME = JobKind("unmanage_volume", 1, VolumeJob, NoResult, Resource.VOLUME)
UNMANAGE_SNAPSHOT = JobKind("unmanage_snapshot", 1, SnapshotJob, NoResult, Resource.SNAPSHOT)
# A listing's resource_id is an id of its own (no row): nothing else waits for it.
LIST_MANAGEABLE_VOLUMES = JobKind(
    "list_manageable_volumes",
    1,
    ListManageablePayload,
    ManageableList,
    Resource.VOLUME,
    changes_capacity=False,
)
LIST_MANAGEABLE_SNAPSHOTS = JobKind(
    "list_manageable_snapshots",
    1,
    ListManageablePayload,
    ManageableList,
    Resource.SNAPSHOT,
    changes_capacity=False,
)

CATALOG: dict[tuple[str, int], JobKind[Any, Any]] = {
    kind.key: kind
    for kind in (
        CREATE_VOLUME,
        DELETE_VOLUME,
        EXTEND_VOLUME,
        MANAGE_VOLUME,
        CLONE_VOLUME,
        MIGRATE_VOLUME,
        REMOVE_VOLUME_COPY,
        CREATE_SNAPSHOT,
        DELETE_SNAPSHOT,
        MANAGE_SNAPSHOT,
        CREATE_BACKUP,
        DELETE_BACKUP,
        EXPORT_VOLUME,
        UNEXPORT_VOLUME,
        EXPORT_FOR_COPY,
        UNEXPORT_FOR_COPY,
        UNMANAGE_VOLUME,
        UNMANAGE_SNAPSHOT,
        LIST_MANAGEABLE_VOLUMES,
        LIST_MANAGEABLE_SNAPSHOTS,
        RESTORE_BACKUP,
        IMPORT_BACKUP,
    )
}


# --- volumes from volumes (docs/CONTRACTS.md, "Volumes from volumes") -------------------


class CreateFromSnapshotPayload(VolumeJob):
    """Make `volume` (placed on the pool of the snapshot's volume) from `snapshot`'s
    data, grown to the volume's size when it is larger."""

    snapshot: SnapshotRef
    qos_specs: QosSpecs = None


class RevertToSnapshotPayload(VolumeJob):
    """Put `snapshot`'s data back into `volume` (of the same size): the volume's latest
    snapshot, Cinder's revert_to_snapshot."""

    snapshot: SnapshotRef


CREATE_VOLUME_FROM_SNAPSHOT = JobKind(
    "create_volume_from_snapshot", 1, CreateFromSnapshotPayload, Created, Resource.VOLUME
)
REVERT_VOLUME_TO_SNAPSHOT = JobKind(
    "revert_volume_to_snapshot", 1, RevertToSnapshotPayload, NoResult, Resource.VOLUME
)
CATALOG.update(
    {kind.key: kind for kind in (CREATE_VOLUME_FROM_SNAPSHOT, REVERT_VOLUME_TO_SNAPSHOT)}
)


def lookup(name: str, version: int) -> JobKind[Any, Any] | None:
    return CATALOG.get((name, version))


def runs_on(runner: Runner) -> list[JobKind[Any, Any]]:
    return [kind for kind in CATALOG.values() if kind.runs_on == runner]


DETACHED = tuple(kind.name for kind in CATALOG.values() if kind.detached)
