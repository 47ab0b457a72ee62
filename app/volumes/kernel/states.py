"""Every resource's statuses and which operations each allows (Cinder's names), in
one place."""

from __future__ import annotations

# The statuses every resource (volume, snapshot, backup, group) goes through, in the
# order of the names each class unpacks them to: made, at rest, failed, removed.
LIFECYCLE = ("creating", "available", "error", "deleting", "error_deleting")


class VolumeStatus:
    CREATING, AVAILABLE, ERROR, DELETING, ERROR_DELETING = LIFECYCLE
    EXTENDING = "extending"
    ERROR_EXTENDING = "error_extending"
    IN_USE = "in-use"
    # Manage existing: the volume is 'creating' while the agent takes the storage over;
    # a manage that fails (agent, quota or pool capacity) leaves it here, having
    # consumed no quota and no pool capacity (its size stays 0).
    ERROR_MANAGING = "error_managing"
    # Migration (and retype by migration): the volume is locked while the agents copy it.
    MAINTENANCE = "maintenance"
    RETYPING = "retyping"
    # Attach (Cinder's): an attachment reserves the volume, its connector makes it
    # 'attaching' while the agent exports it, the host's word makes it 'in-use';
    # detaching goes back to 'available' once the last attachment is gone.
    RESERVED = "reserved"
    ATTACHING = "attaching"
    DETACHING = "detaching"
    # Revert to a snapshot (3.40): the agent puts the snapshot's data back.
    REVERTING = "reverting"
    # Transfer (Cinder's): offered to another project; nothing but the transfer's
    # accept or cancel (or an admin's force delete) moves it.
    AWAITING_TRANSFER = "awaiting-transfer"
    # Unmanage: the agent lets go of the storage, then the row goes.
    UNMANAGING = "unmanaging"

    # Cinder's API lets a volume be deleted from these (not while transitioning).
    DELETABLE = (
        AVAILABLE,
        ERROR,
        ERROR_DELETING,
        ERROR_EXTENDING,
        "error_restoring",
        ERROR_MANAGING,
    )
    # os-force_delete (admin) also takes stuck transitional states.
    FORCE_DELETABLE = (*DELETABLE, CREATING, DELETING, EXTENDING, IN_USE, AWAITING_TRANSFER)
    # os-reset_status targets: resting statuses only (nothing would ever move a volume
    # out of a transitional one that no job stands behind).
    RESETTABLE = (AVAILABLE, ERROR, ERROR_DELETING, ERROR_EXTENDING, IN_USE)


class AttachStatus:
    """A volume attachment's attach_status (and the volume's own attach_status)."""

    RESERVED = "reserved"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DETACHED = "detached"
    ERROR_ATTACHING = "error_attaching"
    ERROR_DETACHING = "error_detaching"

    # The attachments that hold the volume: its export serves them, a delete of the
    # volume waits for them to go. A detached one is a record; one whose export failed
    # never connected anything.
    LIVE = (RESERVED, ATTACHING, ATTACHED, DETACHING, ERROR_DETACHING)
    # An attachment update (a connector) may be given to these.
    CONNECTABLE = (RESERVED, ATTACHING, ATTACHED)


class SnapshotStatus:
    CREATING, AVAILABLE, ERROR, DELETING, ERROR_DELETING = LIFECYCLE
    # Its volume is being reverted to it (Cinder's name for the snapshot's side).
    RESTORING = "restoring"
    UNMANAGING = "unmanaging"

    DELETABLE = (AVAILABLE, ERROR, ERROR_DELETING)
    FORCE_DELETABLE = (*DELETABLE, CREATING, DELETING)
    # Resting statuses only: no job stands behind a transitional one set by hand.
    RESETTABLE = (AVAILABLE, ERROR, ERROR_DELETING)


class BackupStatus:
    CREATING, AVAILABLE, ERROR, DELETING, ERROR_DELETING = LIFECYCLE
    RESTORING = "restoring"

    DELETABLE = (AVAILABLE, ERROR)
    # Cinder's os-reset_status for backups accepts only these.
    RESETTABLE = (AVAILABLE, ERROR)


class GroupStatus:
    CREATING, AVAILABLE, ERROR, DELETING, ERROR_DELETING = LIFECYCLE

    # os-reset_status targets: resting statuses only (nothing would move a group out of
    # a transitional one that no operation stands behind).
    RESETTABLE = (AVAILABLE, ERROR, ERROR_DELETING)
    DELETABLE = (AVAILABLE, ERROR, ERROR_DELETING)


class GroupSnapshotStatus:
    CREATING, AVAILABLE, ERROR, DELETING, ERROR_DELETING = LIFECYCLE

    # Cinder deletes one from available or error; error_deleting too here, so a delete
    # whose member failed may be tried again.
    DELETABLE = (AVAILABLE, ERROR, ERROR_DELETING)
    RESETTABLE = (AVAILABLE, ERROR, ERROR_DELETING)


class MigrationStatus:
    MIGRATING = "migrating"
    SUCCESS = "success"
    ERROR = "error"
    # A new migration may start from these (None: never migrated).
    RESTING = (None, SUCCESS, ERROR)
