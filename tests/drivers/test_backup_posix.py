"""The POSIX backup repository on real files: layout, holes, compression, checksums and
a byte-for-byte restore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.drivers import DriverError
from app.drivers.backup import MANIFEST_NAME, BackupCorrupt, PosixBackupRepository, restore
from app.drivers.backup.posix import read_manifest
from tests.conftest import need
from tests.drivers.helpers import BACKUP_CHUNK, write_backup_volume
from tests.helpers import file_mode as _mode

MiB = 1024 * 1024
CHUNK = BACKUP_CHUNK
BACKUP_ID = "5a1f0c3e-0000-4000-8000-00000000b001"


def _volume(path: Path) -> bytes:
    return write_backup_volume(path, CHUNK)


def test_backup_writes_manifest_objects_and_skips_holes(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    source = tmp_path / "volume"
    data = _volume(source)
    seen: list[int] = []
    result = repo.create_backup(BACKUP_ID, source, container="c1", progress=seen.append)

    folder = tmp_path / "repo" / "c1" / BACKUP_ID
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["size_bytes"] == len(data) == 7 * CHUNK + CHUNK // 2
    assert manifest["chunk_bytes"] == CHUNK and manifest["compression"] == "zstd"
    holes = [c["index"] for c in manifest["chunks"] if c.get("hole")]
    assert holes == [2, 3, 4, 5]
    stored = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST_NAME)
    # Random data is stored raw (zstd cannot shrink it), the rest compressed.
    assert stored == ["chunk-00000000"] + [f"chunk-{i:08d}.zst" for i in (1, 6, 7)]
    assert result["object_count"] == manifest["object_count"] == 4
    assert seen[-1] == 100 and seen == sorted(seen)

    by_index = {c["index"]: c for c in manifest["chunks"]}
    text_object = (folder / by_index[1]["object"]).stat().st_size
    random_object = (folder / by_index[0]["object"]).stat().st_size
    assert text_object < CHUNK // 20  # text compresses well
    assert random_object == CHUNK  # random data does not: stored as it is
    assert by_index[7]["length"] == CHUNK // 2


def test_restore_round_trip_is_byte_exact_and_sparse(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    source = tmp_path / "volume"
    data = _volume(source)
    repo.create_backup(BACKUP_ID, source)
    target = tmp_path / "restored"
    target.write_bytes(b"\xff" * (10 * CHUNK))  # stale, longer content is replaced
    restore(tmp_path / "repo" / "volumebackups" / BACKUP_ID, target)
    assert target.read_bytes() == data
    # The holes stayed holes: fewer blocks than the apparent size.
    assert target.stat().st_blocks * 512 < len(data) - 3 * CHUNK


def test_uncompressed_repository_round_trip(tmp_path: Path) -> None:
    repository = PosixBackupRepository(tmp_path / "plain", compression="none", chunk_bytes=CHUNK)
    repository.do_setup()
    source = tmp_path / "volume"
    data = _volume(source)
    repository.create_backup(BACKUP_ID, source)
    folder = repository.backup_dir(BACKUP_ID, None)
    assert (folder / "chunk-00000001").stat().st_size == CHUNK
    repository.restore(BACKUP_ID, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("damage", ["flip", "missing", "manifest-sha", "offset"])
def test_restore_detects_corruption(
    repo: PosixBackupRepository, tmp_path: Path, damage: str
) -> None:
    source = tmp_path / "volume"
    _volume(source)
    repo.create_backup(BACKUP_ID, source)
    folder = repo.backup_dir(BACKUP_ID, None)
    victim = folder / "chunk-00000006.zst"
    if damage == "flip":
        body = bytearray(victim.read_bytes())
        body[len(body) // 2] ^= 0x01
        victim.write_bytes(bytes(body))
    elif damage == "missing":
        victim.unlink()
    else:
        manifest = read_manifest(folder)
        if damage == "offset":  # a write past the volume's end
            manifest["chunks"][6]["offset"] = 64 * CHUNK
        else:
            manifest["sha256"] = "0" * 64
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BackupCorrupt):
        restore(folder, tmp_path / "restored")


def test_interrupted_backup_leaves_no_manifest_and_a_retry_starts_over(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    source = tmp_path / "volume"
    data = _volume(source)

    class Interrupted(Exception):
        pass

    def die_midway(percent: int) -> None:
        if percent >= 50:
            raise Interrupted

    with pytest.raises(Interrupted):
        repo.create_backup(BACKUP_ID, source, progress=die_midway)
    folder = repo.backup_dir(BACKUP_ID, None)
    assert not (folder / MANIFEST_NAME).exists()
    with pytest.raises(BackupCorrupt, match="no manifest"):
        restore(folder, tmp_path / "restored")

    # What a killed agent leaves: objects and no manifest. The retry rewrites from scratch.
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chunk-00000099.zst").write_bytes(b"partial")
    repo.create_backup(BACKUP_ID, source)
    assert not (folder / "chunk-00000099.zst").exists()
    restore(folder, tmp_path / "restored")
    assert (tmp_path / "restored").read_bytes() == data


def test_delete_is_idempotent(repo: PosixBackupRepository, tmp_path: Path) -> None:
    source = tmp_path / "volume"
    _volume(source)
    repo.create_backup(BACKUP_ID, source)
    repo.delete_backup(BACKUP_ID)
    assert not repo.backup_dir(BACKUP_ID, None).exists()
    repo.delete_backup(BACKUP_ID)  # already gone: fine


def test_names_cannot_escape_the_repository(repo: PosixBackupRepository, tmp_path: Path) -> None:
    source = tmp_path / "volume"
    _volume(source)
    for container in ("../x", "a/b", ".hidden", ".."):
        with pytest.raises(DriverError, match="invalid container"):
            repo.create_backup(BACKUP_ID, source, container=container)
    with pytest.raises(DriverError, match="does not exist"):
        repo.create_backup(BACKUP_ID, tmp_path / "missing")
    assert not repo.backup_dir(BACKUP_ID, None).exists()


def test_empty_and_all_hole_volumes(repo: PosixBackupRepository, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as out:
        out.truncate(4 * CHUNK)
    result = repo.create_backup(BACKUP_ID, sparse)
    assert result["object_count"] == 0
    restore(repo.backup_dir(BACKUP_ID, None), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == bytes(4 * CHUNK)


def test_setup_refuses_an_unwritable_repository(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DriverError, match="not usable"):
        PosixBackupRepository(blocker / "repo").do_setup()


# --- the repository is its owner's, and nothing in it leads outside ---------------------


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under `root` with a file's bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def test_folders_are_0700_and_files_0600_whatever_the_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    root = tmp_path / "repo"
    repository = PosixBackupRepository(root, chunk_bytes=CHUNK)
    repository.do_setup()
    source = tmp_path / "volume"
    _volume(source)
    (root / "older").mkdir(mode=0o755)  # a container made before repositories were private
    for container in ("c1", "older"):
        repository.create_backup(BACKUP_ID, source, container=container)
        folder = repository.backup_dir(BACKUP_ID, container)
        assert [_mode(p) for p in (root, root / container, folder)] == [0o700] * 3
        files = sorted(p.name for p in folder.iterdir())
        assert MANIFEST_NAME in files and len(files) == 5
        assert {name: _mode(folder / name) for name in files} == dict.fromkeys(files, 0o600)


def test_setup_makes_a_loose_repository_private(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    os.chmod(root, 0o755)
    PosixBackupRepository(root).do_setup()
    assert _mode(root) == 0o700


@pytest.mark.parametrize("link", ["container", "backup folder"])
def test_a_link_out_of_the_repository_is_never_followed(
    repo: PosixBackupRepository, tmp_path: Path, link: str
) -> None:
    source = tmp_path / "volume"
    _volume(source)
    outside = tmp_path / "outside"
    (outside / BACKUP_ID).mkdir(parents=True)
    (outside / BACKUP_ID / "precious").write_bytes(b"not the repository's")
    if link == "container":
        (repo.root / "evil").symlink_to(outside)
    else:
        (repo.root / "evil").mkdir()
        (repo.root / "evil" / BACKUP_ID).symlink_to(outside / BACKUP_ID)
    before = _tree(outside)

    with pytest.raises(DriverError, match="symbolic link"):
        repo.create_backup(BACKUP_ID, source, container="evil")
    with pytest.raises(DriverError, match="symbolic link"):
        repo.delete_backup(BACKUP_ID, container="evil")
    with pytest.raises(DriverError, match="symbolic link"):
        repo.restore(BACKUP_ID, tmp_path / "restored", container="evil")
    assert _tree(outside) == before


@pytest.mark.parametrize("entry", ["chunk-00000000", "chunk-00000001.zst", MANIFEST_NAME])
def test_an_entry_replaced_by_a_link_is_not_read_and_its_target_not_deleted(
    repo: PosixBackupRepository, tmp_path: Path, entry: str
) -> None:
    source = tmp_path / "volume"
    _volume(source)
    repo.create_backup(BACKUP_ID, source)
    folder = repo.backup_dir(BACKUP_ID, None)
    # The very bytes, moved out and linked back: following the link would pass every check.
    moved = tmp_path / "outside-entry"
    (folder / entry).rename(moved)
    (folder / entry).symlink_to(moved)
    kept = moved.read_bytes()

    with pytest.raises(BackupCorrupt, match="symbolic link"):
        repo.restore(BACKUP_ID, tmp_path / "restored")
    with pytest.raises(BackupCorrupt, match="symbolic link"):
        restore(folder, tmp_path / "restored")
    repo.delete_backup(BACKUP_ID)
    assert not folder.exists()
    assert moved.read_bytes() == kept


def test_holes_inside_chunks_read_back_as_zeros_whatever_the_buffer_held(
    tmp_path: Path,
) -> None:
    """Chunk buffers are reused: the hole parts of a later chunk must not keep the bytes
    of an earlier one."""
    repository = PosixBackupRepository(tmp_path / "repo", chunk_bytes=CHUNK, workers=2)
    repository.do_setup()
    source = tmp_path / "volume"
    with open(source, "wb") as out:
        out.write(os.urandom(6 * CHUNK))  # chunks 0-5: random, fill every buffer
        out.write(os.urandom(CHUNK // 8))  # chunk 6: data, then a hole
        out.seek(8 * CHUNK - CHUNK // 8)
        out.write(os.urandom(CHUNK // 8))  # chunk 7: a hole, then data
        out.seek(9 * CHUNK + 4096)
        out.write(b"x" * 4096)  # chunk 8: hole, data, hole
        out.truncate(10 * CHUNK)
    data = source.read_bytes()
    repository.create_backup(BACKUP_ID, source)
    repository.restore(BACKUP_ID, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_restore_onto_a_block_device_discards_its_zeros(
    repo: PosixBackupRepository, tmp_path: Path
) -> None:
    """A block device gets every byte right, but holes and runs of zeros are discarded
    (a loop device punches them out of its backing file), not written."""
    need(os.geteuid() == 0 and bool(shutil.which("losetup")), "root with losetup")
    source = tmp_path / "volume"
    data = _volume(source)
    repo.create_backup(BACKUP_ID, source)
    backing = tmp_path / "disk"
    backing.write_bytes(b"\xff" * (8 * CHUNK))  # stale bytes everywhere
    attached = subprocess.run(
        ["losetup", "--find", "--show", str(backing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    need(attached.returncode == 0, f"a loop device ({attached.stderr.strip()})")
    device = attached.stdout.strip()
    try:
        repo.restore(BACKUP_ID, Path(device))
        with open(device, "rb") as disk:
            assert disk.read(len(data)) == data
    finally:
        subprocess.run(["losetup", "-d", device], check=False, timeout=60)
    # Chunks 2-5 (zeros and a hole) are no longer stored in the backing file.
    assert backing.stat().st_blocks * 512 <= 8 * CHUNK - 4 * CHUNK
