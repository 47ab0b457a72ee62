#!/usr/bin/env python3
"""Backup repository benchmark: full backup, restore and incremental of a mixed volume.

    .venv/bin/python bench/backup.py --mib 1024 --runs 3 [--chunk-mib 32] [--json]

Makes a file of --mib MiB of mixed data (1 MiB stripes cycling: random bytes, text-like
bytes that zstd compresses about 3:1, zeros written as data), then in the same run, the
median of --runs each:

- reference: `zstd -3` (single-threaded, the CLI's default level) of the file plus
  `sha256sum` of it; and `zstd -d` of that plus `sha256sum` of the result;
- Pumice's PosixBackupRepository: a full backup of the file (chunk hashes, zstd level 3,
  object hashes, the whole volume's sha256, every object and the manifest fsync'ed) and a
  restore of it into a new file (every checksum verified, fsync'ed);
- an incremental backup after 1% of the data changed: pieces of 256 KiB rewritten with
  random bytes at random places of 1% of the chunks (at least one chunk).

Every file is read from the page cache (the source was just written): the figures are
CPU, not disk, throughput for both sides. The goals: backup >= 0.7x the reference's
throughput, restore >= 0.8x, incremental < 10% of the full backup's time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.drivers.backup import PosixBackupRepository

MiB = 1024 * 1024
PIECE = 256 * 1024


def _text_pool(rng: np.random.Generator, size: int) -> bytes:
    """Text-like bytes: words of a 5,000-word vocabulary (Zipf-ish frequencies), spaces
    and line breaks; zstd -3 compresses it about 3:1."""
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
    weights = 1.0 / np.arange(1, len(letters) + 1)
    vocabulary = [
        bytes(rng.choice(letters, size=int(rng.integers(2, 11)), p=weights / weights.sum()))
        for _ in range(5000)
    ]
    ranks = 1.0 / np.arange(1, len(vocabulary) + 1) ** 0.9
    words = np.array(vocabulary, dtype=object)[
        rng.choice(len(vocabulary), size=size // 5, p=ranks / ranks.sum())
    ]
    separators = np.where(rng.random(len(words)) < 0.08, b"\n", b" ")
    text = b"".join(w + s for w, s in zip(words, separators, strict=True))
    return text[:size]


def make_volume(path: Path, mib: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = _text_pool(rng, 24 * MiB)
    zeros = bytes(MiB)
    with open(path, "wb") as out:
        for stripe in range(mib):
            kind = stripe % 3
            if kind == 0:
                out.write(rng.bytes(MiB))
            elif kind == 1:
                start = int(rng.integers(0, len(pool) - MiB))
                out.write(pool[start : start + MiB])
            else:
                out.write(zeros)
        out.flush()
        os.fsync(out.fileno())


def change_one_percent(path: Path, chunk_bytes: int, seed: int) -> tuple[int, int]:
    """Rewrite 1% of the data as 256 KiB pieces in 1% of the chunks; returns (changed
    bytes, changed chunks)."""
    rng = np.random.default_rng(seed)
    size = path.stat().st_size
    chunk_count = -(-size // chunk_bytes)
    chunks = rng.choice(chunk_count, size=max(1, round(chunk_count / 100)), replace=False)
    pieces = max(1, size // 100 // PIECE)
    with open(path, "r+b") as out:
        for n in range(pieces):
            chunk = int(chunks[n % len(chunks)])
            span = min(chunk_bytes, size - chunk * chunk_bytes) - PIECE
            out.seek(chunk * chunk_bytes + int(rng.integers(0, span // PIECE + 1)) * PIECE)
            out.write(rng.bytes(PIECE))
        out.flush()
        os.fsync(out.fileno())
    return pieces * PIECE, len(chunks)


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of `action`."""
    start, cpu = time.perf_counter(), cpu_seconds()
    action()
    return time.perf_counter() - start, cpu_seconds() - cpu


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def median_of(
    runs: int, setup: Callable[[], object], action: Callable[[], object]
) -> tuple[float, float]:
    """Median wall and CPU seconds of `runs` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        setup()
        wall, cpu = timed(action)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the volume")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--chunk-mib", type=int, default=32, help="the repository's chunk")
    parser.add_argument("--workers", type=int, default=0, help="threads (0: one per CPU)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="scratch folder")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("zstd") is None:
        sys.exit("zstd is missing: apt-get install -y zstd")

    work = Path(tempfile.mkdtemp(prefix="pumice-bench-backup-", dir=args.dir))
    try:
        figures = bench(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    size = figures["mib"]
    print(f"command: {figures['command']}")
    print(f"machine: {figures['machine']}")
    for name in ("reference_backup", "backup", "reference_restore", "restore", "incremental"):
        seconds, cpu = figures["seconds"][name], figures["cpu_seconds"][name]
        print(f"{name:18} {seconds:7.3f} s  {size / seconds:8.1f} MiB/s  CPU {cpu:7.3f} s")
    for name, value in figures["ratios"].items():
        print(f"{name:34} {value:6.2f}")
    stored = figures["stored_mib"]
    print(
        f"stored: full {stored['full']:.1f} MiB (reference .zst {stored['reference']:.1f} MiB),"
        f" incremental {stored['incremental']:.1f} MiB ({figures['changed']})"
    )


def bench(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    source = work / "volume"
    make_volume(source, args.mib, args.seed)
    repo = PosixBackupRepository(
        work / "repo", chunk_bytes=args.chunk_mib * MiB, workers=args.workers
    )
    repo.do_setup()
    packed, unpacked = work / "volume.zst", work / "volume.out"
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def reference_backup() -> None:
        run("zstd", "-3", "-q", "-f", "-o", str(packed), str(source))
        run("sha256sum", str(source))

    def reference_restore() -> None:
        run("zstd", "-d", "-q", "-f", "-o", str(unpacked), str(packed))
        run("sha256sum", str(unpacked))

    full: dict[str, Any] = {}
    seconds["reference_backup"], cpu["reference_backup"] = median_of(
        args.runs, lambda: None, reference_backup
    )
    seconds["reference_restore"], cpu["reference_restore"] = median_of(
        args.runs, lambda: unpacked.unlink(missing_ok=True), reference_restore
    )
    seconds["backup"], cpu["backup"] = median_of(
        args.runs,
        lambda: repo.delete_backup("full"),
        lambda: full.update(repo.create_backup("full", source)),
    )
    restored = work / "restored"
    seconds["restore"], cpu["restore"] = median_of(
        args.runs, lambda: restored.unlink(missing_ok=True), lambda: repo.restore("full", restored)
    )
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    assert full["sha256"] == expected, "the backup's sha256 is not the volume's"
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == expected, "restore differs"
    restored.unlink()
    unpacked.unlink(missing_ok=True)

    changed_bytes, changed_chunks = change_one_percent(source, repo.chunk_bytes, args.seed + 1)
    incremental: dict[str, Any] = {}
    seconds["incremental"], cpu["incremental"] = median_of(
        args.runs,
        lambda: repo.delete_backup("incremental"),
        lambda: incremental.update(repo.create_backup("incremental", source, parent="full")),
    )
    repo.restore("incremental", restored)
    assert restored.read_bytes() == source.read_bytes(), "the incremental's restore differs"

    chunk_count = -(-args.mib * MiB // repo.chunk_bytes)
    return {
        "command": " ".join([".venv/bin/python", "bench/backup.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} CPU, {platform.python_version()}, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "mib": args.mib,
        "chunk_mib": args.chunk_mib,
        "workers": repo.threads,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "ratios": {
            "backup throughput / reference": seconds["reference_backup"] / seconds["backup"],
            "restore throughput / reference": seconds["reference_restore"] / seconds["restore"],
            "incremental time / full backup": seconds["incremental"] / seconds["backup"],
            "backup CPU / reference CPU": cpu["backup"] / cpu["reference_backup"],
            "restore CPU / reference CPU": cpu["restore"] / cpu["reference_restore"],
            "incremental CPU / full backup CPU": cpu["incremental"] / cpu["backup"],
        },
        "stored_mib": {
            "full": full["stored_bytes"] / MiB,
            "incremental": incremental["stored_bytes"] / MiB,
            "reference": packed.stat().st_size / MiB,
        },
        "changed": f"{changed_bytes / MiB:.1f} MiB in {changed_chunks}/{chunk_count} chunks",
    }


if __name__ == "__main__":
    main()
