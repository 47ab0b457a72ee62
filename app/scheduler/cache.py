"""CapabilityCache: the latest report of every backend, its pools, liveness and
claim ledger, as the scheduler reads them.

The API's report store (app/volumes/capacity/reports.py) feeds it from the
database: reports, heartbeats, the per-pool claim ledger and disabled flags. It is
not thread-safe: one event loop owns it. Report order (first-seen backend, then the pool's place in
its report) is Cinder's tie-break between equal weights, and is kept here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from app.errors import BadRequest
from app.scheduler.capacity import DEFAULT_MOSR, figures
from app.scheduler.functions import FunctionCompiler
from app.scheduler.report import check_host, pool_capabilities, protocol_variants, split_report
from app.scheduler.state import BackendState, PoolState
from app.scheduler.table import PoolTable, seconds


def utc_naive(at: datetime) -> datetime:
    """Timestamps are naive UTC throughout (the agents' wire format)."""
    if at.tzinfo is not None:
        return at.astimezone(UTC).replace(tzinfo=None)
    return at


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class CapabilityCache:
    def __init__(self, service_down_time: float = 60.0, default_mosr: float = DEFAULT_MOSR) -> None:
        self.service_down_time = service_down_time
        self.default_mosr = default_mosr
        self._backends: dict[str, BackendState] = {}
        self._seq = 0
        self.table = PoolTable()
        # Kept apart from the reports: the store may learn them first.
        self._ledger: dict[tuple[str, str], float] = {}
        self._volume_counts: dict[tuple[str, str], int] = {}
        self._disabled: set[str] = set()
        self._functions = FunctionCompiler()

    # -- feeding --------------------------------------------------------------
    def ingest(
        self,
        host: str,
        availability_zone: str,
        capabilities: dict[str, Any],
        reported_at: datetime,
        heard_at: datetime | None = None,
    ) -> bool:
        """Take a backend's report; False (nothing changed) if a newer one is held.

        Raises BadRequest, changing nothing, for a malformed report.
        """
        if not isinstance(reported_at, datetime):
            raise BadRequest("the report needs a timestamp")
        reported_at = utc_naive(reported_at)
        held = self._backends.get(host)
        if held is not None and reported_at < held.reported_at:
            return False
        backend_caps, prepared, compiled = self._check(host, availability_zone, capabilities)
        figs = [figures(caps, self.default_mosr) for _, caps in prepared]

        backend = held
        if backend is None:
            backend = BackendState(host, self._seq)
            self._seq += 1
            self._backends[host] = backend
        backend.availability_zone = availability_zone
        backend.capabilities = backend_caps
        backend.reported_at = reported_at
        backend.heard_at = max(backend.heard_at, utc_naive(heard_at or reported_at))
        backend.disabled = host in self._disabled
        backend.volume_backend_name = backend_caps.get("volume_backend_name")
        backend.vendor_name = backend_caps.get("vendor_name")
        backend.driver_version = backend_caps.get("driver_version")
        backend.storage_protocol = protocol_variants(backend_caps.get("storage_protocol"))

        old = dict(backend.pools)
        n_old = len(old)
        pools: dict[str, PoolState] = {}
        for (report, caps), fig, (filter_fn, goodness_fn) in zip(
            prepared, figs, compiled, strict=True
        ):
            name = report["pool_name"]
            pool = old.pop(name, None)
            if pool is None:
                pool = PoolState(backend, name, n_old + len(pools), self.table.allocate())
            pool.availability_zone = availability_zone
            pool.capabilities = caps
            pool.figures = fig
            pool.total_capacity_gb = report.get("total_capacity_gb", 0)
            pool.free_capacity_gb = report.get("free_capacity_gb", 0)
            pool.reserved_percentage = float(report.get("reserved_percentage", 0) or 0)
            self._take_claims(pool)
            pool.filter_function = filter_fn
            pool.goodness_function = goodness_fn
            pools[name] = pool
        # Cinder keeps a pool's place among its backend's pools across reports.
        backend.pools = dict(sorted(pools.items(), key=lambda item: item[1].rank))
        self._renumber(backend)
        for gone in old.values():  # pools the backend no longer reports
            self.table.release(gone.slot)
        heard_s = seconds(backend.heard_at)
        for pool in backend.pools.values():
            self.table.write(pool, heard_s, backend.disabled)
        return True

    def check_report(self, host: str, availability_zone: str, capabilities: Any) -> None:
        """Raise BadRequest for a report ingest() would refuse; change nothing."""
        self._check(host, availability_zone, capabilities)

    def _check(
        self, host: str, availability_zone: str, capabilities: Any
    ) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]], list[tuple[Any, Any]]]:
        check_host(host)
        if not isinstance(availability_zone, str) or not availability_zone:
            raise BadRequest("availability_zone must be a non-empty string")
        backend_caps, pool_reports = split_report(capabilities)
        prepared = [(p, pool_capabilities(backend_caps, p)) for p in pool_reports]
        # Compiled now so a bad expression refuses the report, not a request.
        compiled = [self._compile_functions(caps) for _, caps in prepared]
        return backend_caps, prepared, compiled

    def _compile_functions(self, caps: dict[str, Any]) -> tuple[Any, Any]:
        where = f"pool {caps['pool_name']!r}:"
        return (
            self._functions.compile(caps.get("filter_function"), f"{where} filter_function"),
            self._functions.compile(caps.get("goodness_function"), f"{where} goodness_function"),
        )

    def _renumber(self, backend: BackendState) -> None:
        for rank, pool in enumerate(backend.pools.values()):
            pool.rank = rank

    def heard(self, host: str, at: datetime) -> None:
        """The backend is alive (a heartbeat), whatever its last report said."""
        backend = self._backends.get(host)
        if backend is not None:
            backend.heard_at = max(backend.heard_at, utc_naive(at))
            heard_s = seconds(backend.heard_at)
            column = self.table.floats["heard"]
            for pool in backend.pools.values():
                column[pool.slot] = heard_s

    def set_allocated(self, host: str, pool: str, allocated_gb: float) -> None:
        """The claim ledger: the sum of sizes the database has placed on the pool."""
        self._ledger[(host, pool)] = float(allocated_gb)
        self._write_claims(host, pool)

    def set_volume_count(self, host: str, pool: str, count: int) -> None:
        """Live volumes on the pool (VolumeNumberWeigher), from the database."""
        self._volume_counts[(host, pool)] = int(count)
        self._write_claims(host, pool)

    def _take_claims(self, state: PoolState) -> None:
        """The database's figures for the pool (none yet: nothing placed on it)."""
        key = (state.host, state.name)
        state.allocated_gb = self._ledger.get(key, 0.0)
        state.volume_count = self._volume_counts.get(key, 0)

    def _write_claims(self, host: str, pool: str) -> None:
        """A known pool's state and table row take the ledgers' figures (an unknown one
        takes them when its backend first reports)."""
        state = self.pool(host, pool)
        if state is not None:
            self._take_claims(state)
            self.table.write_claims(state)

    def remove(self, host: str) -> None:
        backend = self._backends.pop(host, None)
        if backend is not None:
            for pool in backend.pools.values():
                self.table.release(pool.slot)

    def set_disabled(self, host: str, disabled: bool) -> None:
        if disabled:
            self._disabled.add(host)
        else:
            self._disabled.discard(host)
        backend = self._backends.get(host)
        if backend is not None:
            backend.disabled = disabled
            column = self.table.bools["disabled"]
            for pool in backend.pools.values():
                column[pool.slot] = disabled

    # -- reading --------------------------------------------------------------
    def backend(self, host: str) -> BackendState | None:
        return self._backends.get(host)

    def backends(self) -> list[BackendState]:
        return list(self._backends.values())

    def pool(self, host: str, pool: str) -> PoolState | None:
        backend = self._backends.get(host)
        return backend.pools.get(pool) if backend is not None else None

    def iter_pools(self) -> Iterator[PoolState]:
        """Every pool in report order."""
        for backend in self._backends.values():
            yield from backend.pools.values()

    def pools(self) -> list[PoolState]:
        return list(self.iter_pools())

    def considered(self, now: datetime | None = None) -> Any:
        """Bool per table slot: a pool of a backend that is up and enabled."""
        t = self.table
        at = seconds(utc_naive(now or utcnow()))
        up = np.abs(t.floats["heard"] - at) <= self.service_down_time
        return up & t.bools["active"] & ~t.bools["disabled"]

    def is_up(self, host: str, now: datetime | None = None) -> bool:
        """Heard from within service_down_time (either side: Cinder uses abs())."""
        backend = self._backends.get(host)
        if backend is None:
            return False
        elapsed = (utc_naive(now or utcnow()) - backend.heard_at).total_seconds()
        return abs(elapsed) <= self.service_down_time
