"""The job catalog (app/jobkinds.py): every kind declared once, read by both ends, and
the wire form of its payloads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import jobkinds
from app.agent.backup import BACKUP_JOB_KINDS
from app.agent.jobs import JOB_KINDS
from app.drivers import DriverError
from app.jobkinds import CATALOG, JobKind, Runner

APP = Path(__file__).resolve().parent.parent / "app"

VOL = jobkinds.VolumeRef(
    id="v1", size_gb=2, name="data", pool="p", host="n@b#p", provider_location="/x/volume-v1"
)
TARGET = jobkinds.VolumeRef(id="v1", size_gb=2, name="data", pool="q", host="n@c#q")
SNAP = jobkinds.SnapshotRef(id="s1", size_gb=2, volume_id="v1", name=None)
BACKUP = jobkinds.BackupRef(id="b1", container=None, volume_id="v1")

# One payload of every kind, as the API builds it.
SAMPLES: dict[JobKind[Any, Any], jobkinds.Wire] = {
    jobkinds.CREATE_VOLUME: jobkinds.CreateVolumePayload(
        volume=VOL,
        request=jobkinds.PlacementRequest(availability_zone="nova", scheduler_hints={"a": 1}),
        qos_specs={"total_iops_sec": "500"},
    ),
    jobkinds.DELETE_VOLUME: jobkinds.VolumeJob(volume=VOL),
    jobkinds.EXTEND_VOLUME: jobkinds.ExtendVolumePayload(volume=VOL, new_size_gb=3),
    jobkinds.MANAGE_VOLUME: jobkinds.ManageVolumePayload(
        volume=VOL.model_copy(update={"size_gb": 0}), ref={"source-name": "disk"}
    ),
    jobkinds.CLONE_VOLUME: jobkinds.CloneVolumePayload(volume=TARGET, source=VOL, qos_specs=None),
    jobkinds.MIGRATE_VOLUME: jobkinds.MigrateVolumePayload(
        volume=VOL, target=TARGET, target_pool_id=7, thin=False, new_type_id="t2", qos_specs=None
    ),
    jobkinds.REMOVE_VOLUME_COPY: jobkinds.RemoveVolumeCopyPayload(volume=TARGET, keep=VOL),
    jobkinds.CREATE_SNAPSHOT: jobkinds.CreateSnapshotPayload(snapshot=SNAP, volume=VOL),
    jobkinds.DELETE_SNAPSHOT: jobkinds.SnapshotJob(snapshot=SNAP),
    jobkinds.MANAGE_SNAPSHOT: jobkinds.ManageSnapshotPayload(
        snapshot=SNAP, volume=VOL, ref={"source-name": "legacy"}
    ),
    jobkinds.CREATE_BACKUP: jobkinds.CreateBackupPayload(backup=BACKUP, volume=VOL, snapshot=SNAP),
    jobkinds.DELETE_BACKUP: jobkinds.DeleteBackupPayload(backup=BACKUP, quota_held=False),
    jobkinds.RESTORE_BACKUP: jobkinds.RestoreBackupPayload(
        backup=BACKUP, volume=VOL, create=True, qos_specs={"total_iops_sec": "100"}
    ),
    jobkinds.IMPORT_BACKUP: jobkinds.ImportBackupPayload(backup=BACKUP),
    jobkinds.EXPORT_VOLUME: jobkinds.ExportVolumePayload(
        volume=VOL,
        chap_user="user",
        chap_secret="secret",
        initiators=["192.0.2.10", "192.0.2.11"],
        read_only=True,
    ),
    jobkinds.UNEXPORT_VOLUME: jobkinds.VolumeJob(volume=VOL),
    jobkinds.EXPORT_FOR_COPY: jobkinds.CopyExportPayload(
        volume=VOL,
        chap_user="copy-1",
        chap_secret="secret",
        initiators=["192.0.2.12"],
        migration=jobkinds.MigrateVolumePayload(volume=VOL, target=TARGET, target_pool_id=7),
    ),
    jobkinds.UNEXPORT_FOR_COPY: jobkinds.VolumeJob(volume=VOL),
    jobkinds.CREATE_VOLUME_FROM_SNAPSHOT: jobkinds.CreateFromSnapshotPayload(
        volume=TARGET, snapshot=SNAP, qos_specs={"total_iops_sec": "500"}
    ),
    jobkinds.REVERT_VOLUME_TO_SNAPSHOT: jobkinds.RevertToSnapshotPayload(volume=VOL, snapshot=SNAP),
    jobkinds.UNMANAGE_VOLUME: jobkinds.VolumeJob(volume=VOL),
    jobkinds.UNMANAGE_SNAPSHOT: jobkinds.SnapshotJob(snapshot=SNAP),
    jobkinds.LIST_MANAGEABLE_VOLUMES: jobkinds.ListManageablePayload(known_ids=["v1"]),
    jobkinds.LIST_MANAGEABLE_SNAPSHOTS: jobkinds.ListManageablePayload(known_ids=[]),
}


def test_every_kind_has_an_agent_handler() -> None:
    for key, kind in CATALOG.items():
        handlers: dict[tuple[str, int], Any] = (
            JOB_KINDS if kind.runs_on == Runner.VOLUME_BACKEND else BACKUP_JOB_KINDS
        )
        assert key in handlers, f"{kind} runs on a {kind.runs_on} but has no handler there"
        assert handlers[key].kind is kind
    # And the agent runs nothing the catalog does not declare.
    assert set(JOB_KINDS) | set(BACKUP_JOB_KINDS) == set(CATALOG)


def test_every_kind_has_api_result_handlers() -> None:
    from app.volumes import results

    assert set(results.RESULTS) == set(CATALOG.values())
    for ends in results.RESULTS.values():
        assert callable(ends.on_success) and callable(ends.on_failure)


def test_the_api_queues_only_catalog_kinds() -> None:
    """`enqueue` takes a catalog kind and that kind's payload model, nothing else."""
    with pytest.raises(TypeError, match="delete_volume takes a VolumeJob"):
        jobkinds.DELETE_VOLUME.dump(SAMPLES[jobkinds.EXTEND_VOLUME])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        jobkinds.DELETE_VOLUME.dump({"volume": VOL.wire()})  # type: ignore[arg-type]


def test_no_module_spells_a_kind_name() -> None:
    """Kind names live in the catalog only: everything else uses its constants."""
    names = {kind.name for kind in CATALOG.values()}
    found = []
    for path in APP.rglob("*.py"):
        if path == APP / "jobkinds.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(APP.parent)}:{node.lineno} {node.value!r}")
    assert found == []


def test_the_catalog_imports_without_the_api_or_the_database() -> None:
    """The agent reads the catalog (and runs) without FastAPI, SQLAlchemy or the API."""
    code = (
        "import sys, app.jobkinds, app.agent.service\n"
        "heavy = ('sqlalchemy', 'fastapi', 'app.api', 'app.db', 'app.volumes')\n"
        "print([m for m in sys.modules if m.startswith(heavy)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(CATALOG.values())


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda k: k.name)
def test_payloads_round_trip_through_json(kind: JobKind[Any, Any]) -> None:
    wire = kind.dump(SAMPLES[kind])
    assert json.loads(json.dumps(wire)) == wire
    assert kind.load(wire) == SAMPLES[kind]
    assert kind.dump(kind.load(wire)) == wire


def test_the_wire_form_is_the_contracts() -> None:
    """docs/CONTRACTS.md, "Job kinds": every VOL member is sent (None as null), and a
    create_backup of a volume has no "snapshot" at all."""
    assert jobkinds.DELETE_VOLUME.dump(jobkinds.VolumeJob(volume=TARGET)) == {
        "volume": {
            "id": "v1",
            "size_gb": 2,
            "name": "data",
            "pool": "q",
            "host": "n@c#q",
            "provider_location": None,
        }
    }
    of_volume = jobkinds.CreateBackupPayload(backup=BACKUP, volume=VOL)
    assert set(jobkinds.CREATE_BACKUP.dump(of_volume)) == {"backup", "volume"}
    assert jobkinds.CREATE_BACKUP.load(jobkinds.CREATE_BACKUP.dump(of_volume)).snapshot is None
    removal = jobkinds.RemoveVolumeCopyPayload(volume=TARGET, keep=None)
    assert jobkinds.REMOVE_VOLUME_COPY.dump(removal)["keep"] is None
    create = jobkinds.CreateVolumePayload(volume=VOL, request=jobkinds.PlacementRequest())
    assert jobkinds.CREATE_VOLUME.dump(create)["request"] == {
        "availability_zone": None,
        "scheduler_hints": {},
    }


def test_an_agent_reads_a_payload_with_members_it_does_not_know() -> None:
    payload = jobkinds.VolumeJob(volume=VOL)
    wire = {**jobkinds.DELETE_VOLUME.dump(payload), "later": 1}
    assert jobkinds.DELETE_VOLUME.load(wire) == payload


@pytest.mark.parametrize(
    ("kind", "payload", "error"),
    [
        (jobkinds.CREATE_VOLUME, {}, "invalid job payload: no volume"),
        (jobkinds.CREATE_VOLUME, {"volume": "v1"}, "invalid job payload: volume must be an object"),
        (
            jobkinds.CREATE_VOLUME,
            {"volume": {"id": "v1"}},
            "invalid job payload: no volume.size_gb",
        ),
        (
            jobkinds.EXTEND_VOLUME,
            {"volume": VOL.wire(), "new_size_gb": "3"},
            "invalid job payload: new_size_gb must be an integer",
        ),
        (
            jobkinds.EXTEND_VOLUME,
            {"volume": {**VOL.wire(), "size_gb": True}, "new_size_gb": 3},
            "invalid job payload: volume.size_gb must be an integer",
        ),
        (
            jobkinds.MANAGE_VOLUME,
            {"volume": VOL.wire(), "ref": "disk"},
            "invalid job payload: ref must be an object",
        ),
        (
            jobkinds.MIGRATE_VOLUME,
            {"volume": VOL.wire()},
            "invalid job payload: no target; no target_pool_id",
        ),
        (
            jobkinds.DELETE_SNAPSHOT,
            {"snapshot": None},
            "invalid job payload: snapshot must be an object",
        ),
        (
            jobkinds.DELETE_BACKUP,
            {"backup": {"container": 3}},
            "invalid job payload: no backup.id; backup.container must be a string",
        ),
        (
            jobkinds.REMOVE_VOLUME_COPY,
            {"volume": VOL.wire(), "keep": "n@b#p"},
            "invalid job payload: keep must be an object",
        ),
    ],
    ids=lambda v: v.name if isinstance(v, JobKind) else "",
)
def test_a_malformed_payload_fails_with_a_readable_reason(
    kind: JobKind[Any, Any], payload: dict[str, Any], error: str
) -> None:
    """One line naming what is wrong (it becomes the job's error, then the user's
    message), never pydantic's banner."""
    with pytest.raises(jobkinds.InvalidJobData) as raised:
        kind.load(payload)
    assert str(raised.value) == error


def test_the_agent_refuses_a_malformed_payload_before_the_driver_runs() -> None:
    """The agent's handlers see only payloads that fit their model: a malformed one is a
    DriverError at bind time (the runner posts it as the job's failure)."""

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the driver was called: {name}")

    kind = JOB_KINDS[jobkinds.EXTEND_VOLUME.key]
    with pytest.raises(DriverError, match="new_size_gb must be an integer"):
        kind.bind(Untouchable(), {"volume": VOL.wire(), "new_size_gb": 2.5}, {})  # type: ignore[arg-type]


def test_an_invalid_driver_answer_is_a_driver_error() -> None:
    kind = JOB_KINDS[jobkinds.CREATE_VOLUME.key]

    class Driver:
        def create_volume(self, _volume: Any) -> dict[str, Any]:
            return {"provider_location": 42}

    work = kind.bind(Driver(), {"volume": VOL.wire()}, {})  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="the driver's answer to create_volume"):
        work()
