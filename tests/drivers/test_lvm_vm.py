"""The LVM driver on a real storage host: device-mapper, thin pools, COW snapshots,
wipes and copies, in a nested VM (../shared/STORAGE_LAB.md, "A real storage host").

Opt-in (PUMICE_LVM_VM=1): it needs qemu-system-x86 and busybox-static, downloads a
Debian kernel package with apt-get (cached in /var/tmp), and takes minutes under TCG.
The host test boots the VM with the host's / read-only over virtio-9p under a tmpfs
overlay; inside, this module runs again with PUMICE_LVM_GUEST=1, where the guest tests
drive LvmDriver with activation on, against loop devices."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.drivers import SnapshotSpec, VolumeSpec, create_driver
from app.drivers.lvm.driver import LvmDriver
from app.drivers.sizes import GiB
from app.scheduler.capacity import capacity

IN_GUEST = os.environ.get("PUMICE_LVM_GUEST") == "1"
KERNEL_CACHE = Path("/var/tmp/pumice-vm-kernel")
# Loaded from the initramfs, in this order, to reach the host's / (9p) and overlay it.
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
# crc32c first: libcrc32c (for dm-thin-pool) asks the crypto API for it, and the guest
# has no modprobe (kmod) for the kernel to call.
GUEST_MODULES = ("crc32c_generic", "dm-thin-pool", "dm-snapshot", "virtio_blk")
# The guest's physical volume: a sparse file of the host as a virtio disk (a loop device
# on the guest's tmpfs would hold every wiped and copied byte in the guest's memory).
GUEST_DISK = "/dev/vda"
DISK_BYTES = 4 * 1024**3
VM_TIMEOUT = 900
# The guest is root over files the host's root owns; remap: / spans several devices.
_9P_OPTIONS = "security_model=none,multidevs=remap"
MiB = 1024**2
ROOT = Path(__file__).resolve().parents[2]

_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "insmod $m failed"; done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    pumice.out=*) OUT=${arg#pumice.out=};;
    pumice.modules=*) MODS=${arg#pumice.modules=};;
  esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot
for d in proc sys dev; do mount --move /$d /newroot/$d; done
mount -t tmpfs tmpfs /newroot/tmp
mount -t tmpfs tmpfs /newroot/run
# After the tmpfs: the host's out folder is usually under /tmp too.
mkdir -p "/newroot$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out "/newroot$OUT"
mkdir -p /newroot/usr/lib/modules
ln -sfn "$MODS" /newroot/usr/lib/modules/$(uname -r)
chroot /newroot /bin/sh "$OUT/guest.sh" > "/newroot$OUT/guest.log" 2>&1
echo $? > "/newroot$OUT/rc"
sync
poweroff -f
"""

# No udev in the guest: LVM makes its device nodes itself.
_LVMLOCAL = """activation {
    udev_sync = 0
    udev_rules = 0
}
devices {
    obtain_device_list_from_udev = 0
}
"""


# -- the host side: build and boot the VM ---------------------------------------------------


def _run(*argv: str, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        argv, cwd=cwd, check=True, capture_output=True, text=True, timeout=timeout
    )
    return done.stdout


def _kernel() -> tuple[Path, Path]:
    """(vmlinuz, its modules folder) of Debian's current amd64 kernel, fetched once."""
    ready = KERNEL_CACHE / "ready"
    if not ready.exists():
        shutil.rmtree(KERNEL_CACHE, ignore_errors=True)
        KERNEL_CACHE.mkdir(parents=True)
        depends = _run("apt-cache", "depends", "linux-image-amd64")
        package = next(
            line.split(":", 1)[1].strip()
            for line in depends.splitlines()
            if line.strip().startswith("Depends: linux-image-")
        )
        _run("apt-get", "download", package, cwd=KERNEL_CACHE)
        [deb] = KERNEL_CACHE.glob("*.deb")
        _run("dpkg-deb", "-x", str(deb), str(KERNEL_CACHE / "root"))
        deb.unlink()
        [modules] = (KERNEL_CACHE / "root" / "lib" / "modules").iterdir()
        _run("busybox", "depmod", "-b", str(KERNEL_CACHE / "root"), modules.name)
        ready.write_text(modules.name)
    version = ready.read_text()
    root = KERNEL_CACHE / "root"
    return root / "boot" / f"vmlinuz-{version}", root / "lib" / "modules" / version


def _module_order(modules: Path, names: tuple[str, ...]) -> list[str]:
    """Module files (relative to `modules`) to insmod, dependencies first."""
    deps: dict[str, list[str]] = {}
    for line in (modules / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {Path(path).name.removesuffix(".ko").replace("-", "_"): path for path in deps}
    order: list[str] = []

    def add(path: str) -> None:
        if path in order:
            return
        # modules.dep lists a module's dependencies with the ones loaded last first.
        for dep in reversed(deps[path]):
            add(dep)
        order.append(path)

    for name in names:
        add(by_name[name.replace("-", "_")])
    return order


def _initramfs(work: Path, modules: Path) -> Path:
    tree = work / "initramfs"
    for folder in ("bin", "modules", "proc", "sys", "dev", "host", "rw", "newroot"):
        (tree / folder).mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "busybox", tree / "bin" / "busybox")
    order = _module_order(modules, INITRAMFS_MODULES)
    for path in order:
        shutil.copy(modules / path, tree / "modules" / Path(path).name)
    (tree / "modules" / "order").write_text("\n".join(Path(p).name for p in order) + "\n")
    init = tree / "init"
    init.write_text(_INIT)
    init.chmod(0o755)
    listing = "\n".join(str(path.relative_to(tree)) for path in sorted(tree.rglob("*"))).encode()
    archive = subprocess.run(
        ["busybox", "cpio", "-o", "-H", "newc"],
        cwd=tree, input=listing, capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    image = work / "initramfs.gz"
    image.write_bytes(gzip.compress(archive, compresslevel=1))
    return image


def _guest_script(out: Path) -> None:
    # Runs chrooted in the guest; the worktree and its .venv are the host's.
    (out / "guest.sh").write_text(
        f"""set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
for m in {" ".join(GUEST_MODULES)}; do busybox modprobe $m || {{ dmesg | tail; exit 1; }}; done
mkdir -p /etc/lvm
cat > /etc/lvm/lvmlocal.conf <<'LVM'
{_LVMLOCAL}LVM
cd {ROOT}
export PUMICE_LVM_GUEST=1 CI=true PUMICE_LVM_GUEST_DISK={GUEST_DISK}
.venv/bin/python -m pytest --noconftest -p no:cacheprovider -p no:xdist -q -rs \\
  tests/drivers/test_lvm_vm.py -k guest
"""
    )


@pytest.mark.slow
def test_the_lvm_driver_on_a_host_with_device_mapper(tmp_path: Path) -> None:
    if IN_GUEST:
        pytest.skip("this is the guest")
    if os.environ.get("PUMICE_LVM_VM") != "1":
        pytest.skip("the nested-VM test is opt-in: PUMICE_LVM_VM=1")
    # Imported here, not at the top: the guest runs this module without the suite's
    # conftest (importing the app and its database layer under TCG takes minutes).
    from tests.conftest import need

    need(
        os.geteuid() == 0
        and all(shutil.which(tool) for tool in ("qemu-system-x86_64", "busybox", "apt-get")),
        "root with qemu-system-x86, busybox-static and apt-get",
    )
    vmlinuz, modules = _kernel()
    initramfs = _initramfs(tmp_path, modules)
    out = tmp_path / "out"
    out.mkdir()
    _guest_script(out)
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as f:
        f.truncate(DISK_BYTES)
    cmdline = f"console=ttyS0 quiet panic=-1 pumice.out={out} pumice.modules={modules}"
    serial = subprocess.run(
        [
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2",
            "-m", "2048", "-nographic", "-no-reboot", "-kernel", str(vmlinuz),
            "-initrd", str(initramfs), "-append", cmdline,
            "-virtfs", f"local,path=/,mount_tag=hostroot,readonly=on,{_9P_OPTIONS}",
            "-virtfs", f"local,path={out},mount_tag=out,{_9P_OPTIONS}",
            "-drive", f"file={disk},if=virtio,format=raw,cache=unsafe,discard=unmap",
        ],
        capture_output=True, text=True, timeout=VM_TIMEOUT, check=False,
    ).stdout  # fmt: skip
    (tmp_path / "serial.log").write_text(serial)
    log = (out / "guest.log").read_text() if (out / "guest.log").exists() else serial[-3000:]
    rc = (out / "rc").read_text().strip() if (out / "rc").exists() else "none"
    assert rc == "0", log[-5000:]
    assert " passed" in log and "skipped" not in log, log[-5000:]


# -- the guest side: the driver with device-mapper --------------------------------------------


@pytest.fixture
def guest_vg() -> Iterator[str]:
    """A VG on the guest's disk; the tests run one after another and each gets it anew."""
    if not IN_GUEST:
        pytest.skip("runs inside the nested VM (test_the_lvm_driver_on_a_host_with_device_mapper)")
    device = os.environ["PUMICE_LVM_GUEST_DISK"]
    name = f"pumice-vm-{uuid.uuid4().hex[:8]}"
    try:
        _run("pvcreate", "-q", "-y", device)
        _run("vgcreate", "-q", name, device)
        yield name
    finally:
        subprocess.run(["vgremove", "-y", name], capture_output=True, check=False)
        subprocess.run(["pvremove", device], capture_output=True, check=False)


def _driver(vg: str, **options: Any) -> LvmDriver:
    driver = create_driver("lvm1", "lvm", {"volume_group": vg, **options})
    assert isinstance(driver, LvmDriver)
    driver.do_setup()
    return driver


def _write(path: Path, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def _device_size(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_guest_thin_volumes_snapshots_and_clones(guest_vg: str) -> None:
    driver = _driver(guest_vg, lvm_type="thin")  # creates the thin pool
    vol = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(vol)
    assert driver.create_volume(vol)  # idempotent
    path = driver.local_path(vol)
    original = os.urandom(4 * MiB)
    _write(path, MiB, original)

    snap = SnapshotSpec(id=str(uuid.uuid4()), size_gb=1, volume_id=vol.id)
    driver.create_snapshot(snap, vol)
    _write(path, MiB, bytes(4 * MiB))
    assert _sha(_read(driver.snapshot_local_path(snap), MiB, 4 * MiB)) == _sha(original)

    _write(path, MiB, original)
    clone = VolumeSpec(id=str(uuid.uuid4()), size_gb=2)
    driver.create_cloned_volume(clone, vol)
    assert _device_size(driver.local_path(clone)) == 2 * GiB
    assert _sha(_read(driver.local_path(clone), MiB, 4 * MiB)) == _sha(original)

    [pool] = driver.get_volume_stats()["pools"]
    assert pool["thin_provisioning_support"] is True
    assert pool["provisioned_capacity_gb"] == 4.0  # 1 + 1 (snapshot) + 2, virtual
    assert 0 < pool["thin_pool_data_percent"] < 95 and pool["thin_pool_full"] is False
    assert pool["free_capacity_gb"] < pool["total_capacity_gb"]

    driver.extend_volume(vol, 2)
    assert _device_size(path) == 2 * GiB
    driver.delete_snapshot(snap)
    driver.delete_snapshot(snap)
    for each in (vol, clone):
        driver.delete_volume(each)
        driver.delete_volume(each)
    [pool] = driver.get_volume_stats()["pools"]
    assert (pool["provisioned_capacity_gb"], pool["total_volumes"]) == (0.0, 0)


def test_guest_thick_volumes_cow_snapshots_wipes_and_copies(guest_vg: str) -> None:
    driver = _driver(guest_vg, volume_clear="zero")
    vol = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(vol)
    data = os.urandom(4 * MiB)
    _write(driver.local_path(vol), MiB, data)

    snap = SnapshotSpec(id=str(uuid.uuid4()), size_gb=1, volume_id=vol.id)
    driver.create_snapshot(snap, vol)
    _write(driver.local_path(vol), MiB, bytes(4 * MiB))
    assert _sha(_read(driver.snapshot_local_path(snap), MiB, 4 * MiB)) == _sha(data)
    driver.delete_snapshot(snap)  # wipes its -cow store first

    _write(driver.local_path(vol), MiB, data)
    clone = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_cloned_volume(clone, vol)
    assert _sha(_read(driver.local_path(clone), MiB, 4 * MiB)) == _sha(data)
    driver.delete_volume(clone)

    # The wipe: a new LV on the freed extents reads zeros where the data was
    # (lvcreate itself zeroes only the first 4 KiB).
    driver.delete_volume(vol)
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["total_volumes"] == 0
    after = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(after)
    assert _read(driver.local_path(after), MiB, 4 * MiB) == bytes(4 * MiB)
    driver.delete_volume(after)


def _snapshotted(driver: LvmDriver, size_gb: int = 1) -> tuple[VolumeSpec, SnapshotSpec, bytes]:
    """A volume with data at 1 MiB, snapshotted, then zeroed there: (volume, snapshot,
    the data the snapshot holds)."""
    vol = VolumeSpec(id=str(uuid.uuid4()), size_gb=size_gb)
    driver.create_volume(vol)
    data = os.urandom(4 * MiB)
    _write(driver.local_path(vol), MiB, data)
    snap = SnapshotSpec(id=str(uuid.uuid4()), size_gb=size_gb, volume_id=vol.id)
    driver.create_snapshot(snap, vol)
    _write(driver.local_path(vol), MiB, bytes(4 * MiB))
    return vol, snap, data


def test_guest_thin_volumes_from_snapshots_and_reverts(guest_vg: str) -> None:
    driver = _driver(guest_vg, lvm_type="thin")
    vol, snap, data = _snapshotted(driver)
    new = VolumeSpec(id=str(uuid.uuid4()), size_gb=2)
    driver.create_volume_from_snapshot(new, snap)
    driver.create_volume_from_snapshot(new, snap)  # idempotent
    assert _device_size(driver.local_path(new)) == 2 * GiB
    assert _sha(_read(driver.local_path(new), MiB, 4 * MiB)) == _sha(data)

    for _ in range(2):  # a second revert gives the same volume
        driver.revert_to_snapshot(vol, snap)
        assert _sha(_read(driver.local_path(vol), MiB, 4 * MiB)) == _sha(data)
        assert _device_size(driver.local_path(vol)) == GiB
        _write(driver.local_path(vol), MiB, bytes(4 * MiB))
    assert _sha(_read(driver.snapshot_local_path(snap), MiB, 4 * MiB)) == _sha(data)
    driver.delete_volume(new)
    driver.delete_snapshot(snap)
    driver.delete_volume(vol)
    [pool] = driver.get_volume_stats()["pools"]
    assert (pool["provisioned_capacity_gb"], pool["total_volumes"]) == (0.0, 0)


def test_guest_thick_volumes_from_snapshots_and_reverts(guest_vg: str) -> None:
    driver = _driver(guest_vg, volume_clear="none")
    vol, snap, data = _snapshotted(driver)
    new = VolumeSpec(id=str(uuid.uuid4()), size_gb=2)
    driver.create_volume_from_snapshot(new, snap)
    assert _device_size(driver.local_path(new)) == 2 * GiB
    assert _sha(_read(driver.local_path(new), MiB, 4 * MiB)) == _sha(data)

    driver.revert_to_snapshot(vol, snap)
    assert _sha(_read(driver.local_path(vol), MiB, 4 * MiB)) == _sha(data)
    # The COW snapshot kept its data while its origin was written.
    assert _sha(_read(driver.snapshot_local_path(snap), MiB, 4 * MiB)) == _sha(data)
    driver.delete_volume(new)
    driver.delete_snapshot(snap)
    driver.delete_volume(vol)


def test_guest_a_nearly_full_thin_pool_is_reported_full(guest_vg: str) -> None:
    _run("lvcreate", "-q", "--yes", "-T", "-L", "64m", f"{guest_vg}/small")
    driver = _driver(guest_vg, lvm_type="thin", thin_pool_name="small")
    vol = VolumeSpec(id=str(uuid.uuid4()), size_gb=1)
    driver.create_volume(vol)
    [pool] = driver.get_volume_stats()["pools"]
    assert (pool["thin_pool_full"], pool["reserved_percentage"]) == (False, 0)
    _write(driver.local_path(vol), 0, os.urandom(62 * MiB))  # 97 % of the pool's data
    [pool] = driver.get_volume_stats()["pools"]
    assert pool["thin_pool_data_percent"] >= 95
    assert (pool["thin_pool_full"], pool["free_capacity_gb"], pool["reserved_percentage"]) == (
        True,
        0.0,
        100,
    )
    assert not capacity(pool, 1, thin_request=True)
    driver.delete_volume(vol)
