"""PoolTable: the cache's pools as columns of numpy arrays, one row ('slot')
per pool, kept in step with every report, ledger change and heartbeat so a
decision over 10,000 pools is a handful of vector operations, not a Python
loop. Rows are reused after a pool goes away; `order` keeps Cinder's report
order (first-seen backend, then the pool's place in its report), the
tie-break between equal weights.

The capability index lives here too: for each capability key a type has asked
about, an int32 column of value codes (0 missing, 1 not indexable, 2.. an
interned value), so an extra spec is matched once per distinct value and then
applied to every pool with one gather.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

import numpy as np

from app.scheduler.extra_specs_ops import match_any
from app.scheduler.state import PoolState

EPOCH = datetime(1970, 1, 1)
MISSING, COMPLEX = 0, 1
_RANK_BITS = 20  # pools per backend stay far below 2**20
_FLOAT_COLUMNS = (
    "heard",  # seconds since EPOCH, the backend's last sign of life
    "vf_thin",
    "vf_thick",
    "ratio_denominator",
    "mosr",
    "provisioned",  # reported provisioned + pending claims
    "pending",
    "allocated",  # max(ledger, reported allocated)
    "volume_count",
)
_BOOL_COLUMNS = (
    "active",
    "disabled",
    "thin_pool",
    "eligible_thin",
    "eligible_thick",
    "unknown",
    "has_filter_function",
    "has_goodness_function",
)


def seconds(at: datetime) -> float:
    return (at - EPOCH).total_seconds()


def _value_key(value: Any) -> Hashable | None:
    """A hashable identity for a capability value; None when not indexable.

    The type is part of it: True, 1 and 1.0 are equal in a dict but not to
    every extra spec operator.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return (type(value), value)
    if isinstance(value, list):
        keys = [_value_key(v) for v in value]
        if any(k is None for k in keys):
            return None
        return ("list", tuple(keys))
    return None


class CapabilityColumn:
    """One capability key: a code per slot and the values behind the codes."""

    def __init__(self, size: int) -> None:
        self.codes = np.zeros(size, dtype=np.int32)
        self.intern: dict[Hashable, int] = {}
        self.values: list[Any] = [None, None]  # codes 0 and 1 have no value
        self.complex = 0  # slots holding a value that is not indexable
        self.version = 0  # bumped whenever a slot's code changes
        self.luts: dict[str, np.ndarray] = {}  # requirement -> match per code

    def code(self, caps: dict[str, Any], key: str) -> int:
        if key not in caps:
            return MISSING
        value = caps[key]
        vkey = _value_key(value)
        if vkey is None:
            return COMPLEX
        code = self.intern.get(vkey)
        if code is None:
            code = len(self.values)
            self.intern[vkey] = code
            self.values.append(value)
        return code

    def set(self, slot: int, code: int) -> None:
        old = int(self.codes[slot])
        if old != code:
            self.complex += (code == COMPLEX) - (old == COMPLEX)
            self.codes[slot] = code
            self.version += 1

    def lut(self, req: str) -> np.ndarray:
        """Does each known value match req? Computed once per new value."""
        lut = self.luts.get(req)
        have = 0 if lut is None else len(lut)
        if lut is None or have < len(self.values):
            grown = np.zeros(len(self.values), dtype=bool)
            if lut is not None:
                grown[:have] = lut
            for code in range(max(have, 2), len(self.values)):
                grown[code] = match_any(self.values[code], req)
            self.luts[req] = lut = grown
        return lut


class PoolTable:
    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.count = 0  # rows ever handed out
        self.free: list[int] = []
        self.floats = {name: np.zeros(size) for name in _FLOAT_COLUMNS}
        # never 0, even in rows not yet written: the ratio check divides by it
        self.floats["ratio_denominator"][:] = np.inf
        self.bools = {name: np.zeros(size, dtype=bool) for name in _BOOL_COLUMNS}
        self.az = np.full(size, -1, dtype=np.int32)
        self.order = np.zeros(size, dtype=np.int64)
        self.pools = np.empty(size, dtype=object)
        self.zones: dict[str, int] = {}
        self.columns: dict[str, CapabilityColumn] = {}
        self._ordered: np.ndarray | None = None  # active slots in report order

    # -- rows -------------------------------------------------------------------
    def allocate(self) -> int:
        if self.free:
            return self.free.pop()
        if self.count == self.size:
            self._grow()
        self.count += 1
        return self.count - 1

    def _grow(self) -> None:
        new = self.size * 2

        def grow(arr: np.ndarray, fill: Any = 0) -> np.ndarray:
            out = np.full(new, fill, dtype=arr.dtype)
            out[: self.size] = arr
            return out

        self.floats = {
            k: grow(v, np.inf if k == "ratio_denominator" else 0) for k, v in self.floats.items()
        }
        self.bools = {k: grow(v) for k, v in self.bools.items()}
        self.az = grow(self.az, -1)
        self.order = grow(self.order)
        pools = np.empty(new, dtype=object)
        pools[: self.size] = self.pools
        self.pools = pools
        for column in self.columns.values():
            column.codes = grow(column.codes)
            column.version += 1
        self.size = new

    def release(self, slot: int) -> None:
        self.bools["active"][slot] = False
        self.pools[slot] = None
        for column in self.columns.values():
            column.set(slot, MISSING)
        self.free.append(slot)
        self._ordered = None

    def zone_code(self, zone: str) -> int:
        code = self.zones.get(zone)
        if code is None:
            code = self.zones[zone] = len(self.zones)
        return code

    def write(self, pool: PoolState, heard_at: float, disabled: bool) -> None:
        """Copy a pool's report figures into its row."""
        s = pool.slot
        f, b, fig = self.floats, self.bools, pool.figures
        if self.pools[s] is not pool or self.order[s] != self._order_key(pool):
            self._ordered = None
        self.pools[s] = pool
        self.order[s] = self._order_key(pool)
        self.az[s] = self.zone_code(pool.availability_zone)
        b["active"][s] = True
        b["disabled"][s] = disabled
        b["thin_pool"][s] = fig.thin_pool
        b["eligible_thin"][s] = fig.eligible_thin
        b["eligible_thick"][s] = fig.eligible_thick
        b["unknown"][s] = fig.unknown
        b["has_filter_function"][s] = pool.filter_function is not None
        b["has_goodness_function"][s] = pool.goodness_function is not None
        f["heard"][s] = heard_at
        f["vf_thin"][s] = fig.vf_thin
        f["vf_thick"][s] = fig.vf_thick
        f["ratio_denominator"][s] = fig.ratio_denominator
        f["mosr"][s] = fig.mosr
        self.write_claims(pool)
        caps = pool.capabilities
        for key, column in self.columns.items():
            column.set(s, column.code(caps, key))

    def write_claims(self, pool: PoolState) -> None:
        s, f = pool.slot, self.floats
        pending = pool.pending_gb
        f["pending"][s] = pending
        f["provisioned"][s] = pool.figures.provisioned_gb + pending
        f["allocated"][s] = pool.allocated_capacity_gb
        f["volume_count"][s] = pool.volume_count

    @staticmethod
    def _order_key(pool: PoolState) -> int:
        return (pool.backend.seq << _RANK_BITS) + pool.rank

    # -- reading ----------------------------------------------------------------
    def column(self, key: str) -> CapabilityColumn:
        """The index of one capability key, built on first use."""
        column = self.columns.get(key)
        if column is None or len(column.values) > 4 * self.count + 1024:
            # New, or its interned values (say, a capacity figure changing with
            # every report) have outgrown the pools: (re)build it.
            old_version = column.version + 1 if column is not None else 0
            column = CapabilityColumn(self.size)
            column.version = old_version
            for slot in np.flatnonzero(self.bools["active"]):
                pool = self.pools[slot]
                column.set(int(slot), column.code(pool.capabilities, key))
            self.columns[key] = column
        return column

    def ordered(self) -> np.ndarray:
        """Active slots in report order."""
        if self._ordered is None:
            active = np.flatnonzero(self.bools["active"])
            self._ordered = active[np.argsort(self.order[active], kind="stable")]
        return self._ordered

    def in_report_order(self, mask: np.ndarray) -> np.ndarray:
        slots = self.ordered()
        return slots[mask[slots]]
