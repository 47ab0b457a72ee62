"""Incremental backups in the POSIX repository: only changed chunks are stored, a chain
restores byte for byte, damage anywhere along the chain is refused, and a backup that
others reference cannot be deleted."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from app.drivers import DriverError
from app.drivers.backup import MANIFEST_NAME, BackupCorrupt, BackupInUse, PosixBackupRepository
from app.drivers.backup.posix import read_manifest, restore
from tests.drivers.helpers import (
    BACKUP_CHUNK,
    backed_up_volume,
    rewrite_chunks,
    write_backup_volume,
)

CHUNK = BACKUP_CHUNK
FULL = "00000000-0000-4000-8000-0000000000f1"
INC1 = "00000000-0000-4000-8000-0000000000a1"
INC2 = "00000000-0000-4000-8000-0000000000a2"
V1_SHA256 = "1355d48b9003b5f6209e715948389ef622bf25a9eb0e09eb95113ea96fcb600f"


def _objects(folder: Path) -> list[int]:
    """The indexes of the chunks stored in the backup's folder."""
    return sorted(int(p.name[6:14]) for p in folder.iterdir() if p.name.startswith("chunk-"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _restored(repo: PosixBackupRepository, backup_id: str, out: Path) -> str:
    repo.restore(backup_id, out)
    return _sha(out.read_bytes())


@pytest.fixture
def chain(repo: PosixBackupRepository, tmp_path: Path) -> dict[str, bytes]:
    """full → inc1 (chunk 1 changed) → inc2 (chunks 0 and 6 changed);
    the volume's bytes at each point."""
    volume = tmp_path / "volume"
    states = {FULL: write_backup_volume(volume, CHUNK)}
    repo.create_backup(FULL, volume)
    states[INC1] = rewrite_chunks(volume, CHUNK, [1])
    repo.create_backup(INC1, volume, parent=FULL)
    states[INC2] = rewrite_chunks(volume, CHUNK, [0, 6])
    repo.create_backup(INC2, volume, parent=INC1)
    return states


def test_an_incremental_stores_only_the_changed_chunks(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    write_backup_volume(volume, CHUNK)
    full = repo.create_backup(FULL, volume)
    rewrite_chunks(volume, CHUNK, [1, 6])
    result = repo.create_backup(INC1, volume, parent=FULL)

    folder = repo.backup_dir(INC1, None)
    assert _objects(folder) == [1, 6]
    assert result["object_count"] == 2 < full["object_count"] == 4
    assert result["stored_bytes"] < full["stored_bytes"]
    manifest = read_manifest(folder)
    assert manifest["version"] == 2
    assert manifest["parent"] == {"backup_id": FULL, "container": "volumebackups"}
    assert manifest["depends_on"] == [{"backup_id": FULL, "container": "volumebackups"}]
    by_index = {c["index"]: c for c in manifest["chunks"]}
    assert {i for i, c in by_index.items() if c.get("backup_id") == FULL} == {0, 7}
    assert by_index[0]["object"] == "chunk-00000000"  # random: stored raw
    assert [i for i, c in by_index.items() if c.get("hole")] == [2, 3, 4, 5]


def test_every_backup_of_a_chain_restores_the_volume_as_it_was(
    repo: PosixBackupRepository, tmp_path: Path, chain: dict[str, bytes]
) -> None:
    for backup_id, data in chain.items():
        assert _restored(repo, backup_id, tmp_path / f"out-{backup_id}") == _sha(data)
    # inc2 names the backup that holds each object, not its parent's reference to it.
    manifest = read_manifest(repo.backup_dir(INC2, None))
    owners = {c["index"]: c.get("backup_id") for c in manifest["chunks"] if not c.get("hole")}
    assert owners == {0: None, 1: INC1, 6: None, 7: FULL}
    assert [ref["backup_id"] for ref in manifest["depends_on"]] == [INC1, FULL]
    assert _objects(repo.backup_dir(INC2, None)) == [0, 6]
    # The module-level restore (a folder path) follows the references too.
    restore(repo.backup_dir(INC2, None), tmp_path / "by-path")
    assert _sha((tmp_path / "by-path").read_bytes()) == _sha(chain[INC2])


@pytest.mark.parametrize("damage", ["flip", "missing"])
def test_a_damaged_object_in_a_parent_is_refused_naming_the_chunk(
    repo: PosixBackupRepository, tmp_path: Path, chain: dict[str, bytes], damage: str
) -> None:
    victim = repo.backup_dir(FULL, None) / "chunk-00000007.zst"  # inc2's chunk 7
    if damage == "flip":
        body = bytearray(victim.read_bytes())
        body[len(body) // 2] ^= 0x01
        victim.write_bytes(bytes(body))
    else:
        victim.unlink()
    expected = "is corrupt" if damage == "flip" else "is missing"
    with pytest.raises(BackupCorrupt, match=f"chunk 7: object chunk-00000007.zst of backup {FULL}"):
        repo.restore(INC2, tmp_path / "out")
    with pytest.raises(BackupCorrupt, match=expected):
        repo.restore(INC1, tmp_path / "out")


def test_a_parent_without_manifest_or_object_entry_is_refused(
    repo: PosixBackupRepository, tmp_path: Path, chain: dict[str, bytes]
) -> None:
    inc1 = repo.backup_dir(INC1, None)
    (inc1 / MANIFEST_NAME).rename(inc1 / "moved.json")
    with pytest.raises(BackupCorrupt, match=f"chunk 1: backup {INC1}.* has no manifest"):
        repo.restore(INC2, tmp_path / "out")
    # A manifest that no longer holds the referenced object is refused as well.
    manifest = json.loads((inc1 / "moved.json").read_text())
    manifest["chunks"][1]["object_sha256"] = "0" * 64
    (inc1 / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BackupCorrupt, match=r"chunk 1 refers to backup .* does not hold"):
        repo.restore(INC2, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before a byte was written


def test_a_referenced_backup_cannot_be_deleted(
    repo: PosixBackupRepository, tmp_path: Path, chain: dict[str, bytes]
) -> None:
    for backup_id in (FULL, INC1):
        with pytest.raises(BackupInUse, match=INC2):
            repo.delete_backup(backup_id)
        assert (repo.backup_dir(backup_id, None) / MANIFEST_NAME).exists()
    repo.delete_backup(INC2)
    with pytest.raises(BackupInUse, match=INC1):
        repo.delete_backup(FULL)  # inc1 still references it
    repo.delete_backup(INC1)
    repo.delete_backup(FULL)
    assert not any((repo.root / "volumebackups").iterdir())


def test_a_marker_of_a_backup_that_is_gone_does_not_block_a_delete(
    repo: PosixBackupRepository, tmp_path: Path, chain: dict[str, bytes]
) -> None:
    shutil.rmtree(repo.backup_dir(INC2, None))  # gone without the driver's delete
    repo.delete_backup(INC1)
    repo.delete_backup(FULL)
    assert not repo.backup_dir(FULL, None).exists()


def test_deleting_a_parent_while_a_child_is_being_created_is_refused(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    volume, _ = backed_up_volume(repo, tmp_path, FULL)
    data = rewrite_chunks(volume, CHUNK, [6])
    refused: list[Exception] = []

    def delete_parent(percent: int) -> None:
        if not refused:
            with pytest.raises(BackupInUse) as caught:
                repo.delete_backup(FULL)
            refused.append(caught.value)

    repo.create_backup(INC1, volume, parent=FULL, progress=delete_parent)
    assert refused
    assert _restored(repo, INC1, tmp_path / "out") == _sha(data)


def test_a_parent_with_another_chunk_size_shares_nothing(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    write_backup_volume(volume, CHUNK)
    coarse = PosixBackupRepository(tmp_path / "repo", chunk_bytes=2 * CHUNK)
    coarse.do_setup()
    coarse.create_backup(FULL, volume)
    repo = PosixBackupRepository(tmp_path / "repo", chunk_bytes=CHUNK)
    result = repo.create_backup(INC1, volume, parent=FULL)
    assert result["object_count"] == 4
    assert read_manifest(repo.backup_dir(INC1, None))["depends_on"] == []
    repo.delete_backup(FULL)  # nothing references it


def test_incremental_across_containers_and_compressions(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    write_backup_volume(volume, CHUNK)
    plain = PosixBackupRepository(tmp_path / "repo", compression="none", chunk_bytes=CHUNK)
    plain.do_setup()
    plain.create_backup(FULL, volume, container="old")
    data = rewrite_chunks(volume, CHUNK, [0])
    repo = PosixBackupRepository(tmp_path / "repo", chunk_bytes=CHUNK)
    repo.create_backup(INC1, volume, container="new", parent=FULL, parent_container="old")
    assert _objects(repo.backup_dir(INC1, "new")) == [0]
    repo.restore(INC1, tmp_path / "out", container="new")
    assert (tmp_path / "out").read_bytes() == data
    with pytest.raises(BackupInUse):
        repo.delete_backup(FULL, container="old")


def test_a_missing_parent_is_refused(repo: PosixBackupRepository, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    write_backup_volume(volume, CHUNK)
    with pytest.raises(DriverError, match=r"parent backup .* does not exist"):
        repo.create_backup(INC1, volume, parent=FULL)
    repo.backup_dir(FULL, None).mkdir(parents=True)  # an interrupted parent
    with pytest.raises(BackupCorrupt, match="has no manifest"):
        repo.create_backup(INC1, volume, parent=FULL)
    assert not repo.backup_dir(INC1, None).exists()


def test_a_parent_object_gone_missing_is_stored_again(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    volume, data = backed_up_volume(repo, tmp_path, FULL)
    (repo.backup_dir(FULL, None) / "chunk-00000001.zst").unlink()
    repo.create_backup(INC1, volume, parent=FULL)
    assert _objects(repo.backup_dir(INC1, None)) == [1]
    assert _restored(repo, INC1, tmp_path / "out") == _sha(data)


def test_a_version_1_manifest_still_restores_and_parents_an_incremental(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    volume, data = backed_up_volume(repo, tmp_path, FULL)
    folder = repo.backup_dir(FULL, None)
    manifest = read_manifest(folder)
    v1 = {k: v for k, v in manifest.items() if k not in ("container", "parent", "depends_on")}
    (folder / MANIFEST_NAME).write_text(json.dumps({**v1, "version": 1}))
    assert _restored(repo, FULL, tmp_path / "v1") == _sha(data)
    changed = rewrite_chunks(volume, CHUNK, [7])
    repo.create_backup(INC1, volume, parent=FULL)
    assert _objects(repo.backup_dir(INC1, None)) == [7]
    assert _restored(repo, INC1, tmp_path / "inc") == _sha(changed)


def test_a_grown_volume_stores_its_new_tail(repo: PosixBackupRepository, tmp_path: Path) -> None:
    volume, _ = backed_up_volume(repo, tmp_path, FULL)
    grown = rewrite_chunks(volume, CHUNK, [9])  # chunk 7 fills up, 8 is a hole, 9 is new
    repo.create_backup(INC1, volume, parent=FULL)
    assert _objects(repo.backup_dir(INC1, None)) == [7, 9]
    assert _restored(repo, INC1, tmp_path / "out") == _sha(grown)


def test_a_recorded_version_1_backup_restores_and_parents_an_incremental(
    tmp_path: Path,
) -> None:
    """A backup written by the version 1 driver (tests/drivers/data/backup-v1: 64 KiB
    chunks, a hole, a partial tail)."""
    root = tmp_path / "repo"
    shutil.copytree(Path(__file__).parent / "data" / "backup-v1", root)
    repo = PosixBackupRepository(root, chunk_bytes=64 * 1024)
    repo.do_setup()
    assert read_manifest(repo.backup_dir("v1-backup", None))["version"] == 1
    result = repo.restore("v1-backup", tmp_path / "volume")
    data = (tmp_path / "volume").read_bytes()
    assert result["sha256"] == _sha(data) == V1_SHA256 and len(data) == 197108

    assert repo.create_backup(INC1, tmp_path / "volume", parent="v1-backup")["object_count"] == 0
    assert _restored(repo, INC1, tmp_path / "again") == V1_SHA256
