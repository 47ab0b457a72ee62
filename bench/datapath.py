#!/usr/bin/env python3
"""Data-path benchmark: a volume attached through `pumice up`'s private tgtd.

    python bench/datapath.py --mib 512 --runs 3 --updates 30 [--json]

Starts `pumice up` in a temporary data directory (its own API and iSCSI ports), creates
a volume and an attachment with a connector through the HTTP API, then:

- MiB/s written and read through the target by qemu-io and qemu-img over libiscsi with
  the attachment's CHAP credentials, beside the same tool on the volume's backing file
  directly, in the same run (median of --runs);
- attach -> connection_info latency: --updates attachment updates (PUT
  /attachments/{id} with the connector, each a round trip to the agent, which exports
  the volume again) timed from the request to the answer holding connection_info,
  p50/p95. These are timed over HTTP (httpx), not the CLI, so that the figure is the
  service's and not the client's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

BIN = Path(sys.executable).parent
CLIENT_SECONDS = 600  # a client of a target that went away may hang: never wait forever
CONNECTOR = {
    "ip": "127.0.0.1",
    "initiator": "iqn.1994-05.com.example:bench",
    "host": "bench",
    "platform": "x86_64",
    "os_type": "linux2",
    "multipath": False,
}
SERVER = "5d3b8d59-3c1e-4f0b-9a55-0c2e4b6a1fbe"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Service:
    data_dir: Path
    endpoint: str
    process: subprocess.Popen[bytes]


@contextmanager
def pumice_up(workdir: Path) -> Iterator[Service]:
    """`pumice up` with a private tgtd, stopped (Ctrl-C) on the way out."""
    data_dir, log = workdir / "pumice-data", workdir / "up.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUMICE_", "OS_"))}
    argv = [str(BIN / "pumice"), "up", "--port", str(port), "--data-dir", str(data_dir)]
    argv += ["--iscsi-port", str(free_port())]
    process = subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while "Ready:" not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("pumice up did not come up:\n" + log.read_text())
            time.sleep(0.2)
        yield Service(data_dir, f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


class Api:
    """The Block Storage API as the service's admin (token from its clouds.yaml)."""

    def __init__(self, service: Service) -> None:
        cloud = yaml.safe_load((service.data_dir / "clouds.yaml").read_text())["clouds"]["pumice"]
        auth = cloud["auth"]
        self.http = httpx.Client(base_url=service.endpoint, timeout=60)
        r = self.http.post(
            "/identity/v3/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": auth["username"],
                                "password": auth["password"],
                                "domain": {"name": "Default"},
                            }
                        },
                    },
                    "scope": {
                        "project": {"name": auth["project_name"], "domain": {"name": "Default"}}
                    },
                }
            },
        )
        r.raise_for_status()
        self.project = r.json()["token"]["project"]["id"]
        self.http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.http.headers["OpenStack-API-Version"] = "volume 3.54"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/v3/{self.project}{path}", json=body)
        if r.status_code >= 400:
            raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def available_volume(self, size_gb: int) -> str:
        volume_id: str = self.call("POST", "/volumes", {"volume": {"size": size_gb}})["volume"][
            "id"
        ]
        deadline = time.monotonic() + 60
        while self.call("GET", f"/volumes/{volume_id}")["volume"]["status"] != "available":
            if time.monotonic() > deadline:
                raise SystemExit(f"volume {volume_id} did not become available")
            time.sleep(0.1)
        return volume_id


def iscsi_url(info: dict[str, Any]) -> str:
    data = info["data"]
    user, secret = data["auth_username"], data["auth_password"]
    return (
        f"iscsi://{user}%{secret}@{data['target_portal']}/{data['target_iqn']}/{data['target_lun']}"
    )


def timed(argv: list[str]) -> float:
    """Seconds the command took; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_SECONDS)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "error" in done.stdout.lower():
        raise SystemExit(f"{shlex.join(argv)} failed: {done.stderr or done.stdout}")
    return elapsed


def transfers(target: str, mib: int, scratch: Path) -> dict[str, list[str]]:
    """The commands of each (tool, direction) against one target (a URL or a file)."""
    source, sink = scratch / "source.img", scratch / "sink.img"
    size = f"{mib}M"
    convert = ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw"]
    dd = ["qemu-img", "dd", "-f", "raw", "-O", "raw", f"if={target}", f"of={sink}", "bs=1M"]
    return {
        "qemu-io write": ["qemu-io", "-f", "raw", "-c", f"write -P 0x5a 0 {size}", target],
        "qemu-io read": ["qemu-io", "-f", "raw", "-c", f"read -P 0x5a 0 {size}", target],
        "qemu-img write": [*convert, str(source), target],
        "qemu-img read": [*dd, f"count={mib}"],
    }


def throughput(target: str, mib: int, runs: int, scratch: Path) -> dict[str, float]:
    """Median MiB/s of each transfer over `runs` runs."""
    out = {}
    for name, argv in transfers(target, mib, scratch).items():
        seconds = []
        for _ in range(runs):
            (scratch / "sink.img").unlink(missing_ok=True)
            seconds.append(timed(argv))
        out[name] = mib / statistics.median(seconds)
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def connect_latency(api: Api, attachment_id: str, updates: int) -> list[float]:
    """Milliseconds of each attachment update, from the request to connection_info."""
    times = []
    for _ in range(updates):
        started = time.perf_counter()
        answer = api.call(
            "PUT", f"/attachments/{attachment_id}", {"attachment": {"connector": CONNECTOR}}
        )
        times.append((time.perf_counter() - started) * 1e3)
        if "auth_password" not in answer["attachment"]["connection_info"]["data"]:
            raise SystemExit("an update answered without the connection's credentials")
    return times


def run(mib: int, runs: int, updates: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pumice-bench-") as tmp, pumice_up(Path(tmp)) as up:
        scratch = Path(tmp)
        with (scratch / "source.img").open("wb") as source:
            for _ in range(mib):
                source.write(os.urandom(1024**2))
        api = Api(up)
        volume_id = api.available_volume(max(1, -(-mib // 1024)))
        created = api.call(
            "POST",
            "/attachments",
            {
                "attachment": {
                    "volume_uuid": volume_id,
                    "instance_uuid": SERVER,
                    "connector": CONNECTOR,
                    "mode": "rw",
                }
            },
        )["attachment"]
        backing = str(up.data_dir / "volumes" / f"volume-{volume_id}")
        through = throughput(iscsi_url(created["connection_info"]), mib, runs, scratch)
        direct = throughput(backing, mib, runs, scratch)
        latency = connect_latency(api, created["id"], updates)
        api.call("DELETE", f"/attachments/{created['id']}")
        return {
            "mib": mib,
            "runs": runs,
            "through_target": through,
            "backing_file": direct,
            "connect_ms": {
                "updates": updates,
                "p50": percentile(latency, 50),
                "p95": percentile(latency, 95),
                "max": max(latency),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512, help="MiB per transfer")
    parser.add_argument("--runs", type=int, default=3, help="runs per transfer (median)")
    parser.add_argument("--updates", type=int, default=30, help="attachment updates timed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = shlex.join(["python", "bench/datapath.py", *sys.argv[1:]])
    result = run(args.mib, args.runs, args.updates)
    result["command"] = command
    result["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(command)
    print(result["machine"])
    print(f"{'transfer':<16}{'through target MiB/s':>22}{'backing file MiB/s':>20}")
    for name, speed in result["through_target"].items():
        print(f"{name:<16}{speed:>22.0f}{result['backing_file'][name]:>20.0f}")
    ms = result["connect_ms"]
    print(
        f"attachment update -> connection_info over {ms['updates']} calls: "
        f"p50 {ms['p50']:.1f} ms, p95 {ms['p95']:.1f} ms, max {ms['max']:.1f} ms"
    )


if __name__ == "__main__":
    main()
