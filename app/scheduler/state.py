"""BackendState and PoolState: what the scheduler knows of one backend and its pools."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.scheduler.capacity import UNKNOWN, UNLIMITED_GB, CapacityFigures
from app.scheduler.evaluator import Expression


class BackendState:
    """One 'node@backend' service: its latest report, liveness and pools."""

    __slots__ = (
        "availability_zone",
        "capabilities",
        "disabled",
        "driver_version",
        "filter_function",
        "goodness_function",
        "heard_at",
        "host",
        "pools",
        "reported_at",
        "seq",
        "storage_protocol",
        "vendor_name",
        "volume_backend_name",
    )

    def __init__(self, host: str, seq: int) -> None:
        self.host = host
        self.seq = seq  # first-seen order: Cinder breaks weight ties by it
        self.availability_zone = ""
        self.capabilities: dict[str, Any] = {}  # the report without its pools
        self.reported_at = datetime.min
        self.heard_at = datetime.min
        self.disabled = False
        self.pools: dict[str, PoolState] = {}
        self.volume_backend_name: str | None = None
        self.vendor_name: str | None = None
        self.driver_version: str | None = None
        self.storage_protocol: Any = None  # widened to its variants
        self.filter_function: Expression | None = None
        self.goodness_function: Expression | None = None

    def __repr__(self) -> str:
        return f"<BackendState {self.host} pools={len(self.pools)}>"


class PoolState:
    """One pool, 'node@backend#pool', as the filters and weighers see it."""

    __slots__ = (
        "allocated_gb",
        "availability_zone",
        "backend",
        "capabilities",
        "figures",
        "filter_function",
        "free_capacity_gb",
        "goodness_function",
        "host",
        "key",
        "name",
        "rank",
        "reserved_percentage",
        "slot",
        "total_capacity_gb",
        "volume_count",
    )

    def __init__(self, backend: BackendState, name: str, rank: int, slot: int) -> None:
        self.backend = backend
        self.host = backend.host
        self.name = name
        self.key = f"{backend.host}#{name}"
        self.rank = rank  # position in its backend's report: the tie-break after seq
        self.slot = slot  # row in the cache's arrays
        self.availability_zone = backend.availability_zone
        # What CapabilitiesFilter sees: the pool's report plus backend-level
        # names and the storage protocol widened to its variants.
        self.capabilities: dict[str, Any] = {}
        self.figures = CapacityFigures(False, 1.0, False, 0.0, 0.0, False, -1.0, 0.0, False, -1.0)
        self.total_capacity_gb: Any = 0.0  # a number, 'infinite' or 'unknown'
        self.free_capacity_gb: Any = 0.0
        self.reserved_percentage = 0.0
        self.allocated_gb = 0.0  # the claim ledger (database), set by the store
        self.volume_count = 0
        self.filter_function: Expression | None = None
        self.goodness_function: Expression | None = None

    def __repr__(self) -> str:
        return f"<PoolState {self.key}>"

    # -- report figures -------------------------------------------------------
    @property
    def provisioned_capacity_gb(self) -> float:
        return self.figures.provisioned_gb

    @property
    def reported_allocated_gb(self) -> float:
        return self.figures.allocated_gb

    @property
    def allocated_capacity_gb(self) -> float:
        """What is allocated, counting claims the agent has not reported yet."""
        return max(self.allocated_gb, self.figures.allocated_gb)

    @property
    def thin(self) -> bool:
        return self.figures.thin_pool

    @property
    def thick(self) -> bool:
        return bool(self.capabilities.get("thick_provisioning_support", False))

    @property
    def max_over_subscription_ratio(self) -> float:
        return self.figures.mosr

    # -- claims ---------------------------------------------------------------
    @property
    def pending_gb(self) -> float:
        """Claimed in the database but not yet in the agent's report."""
        return max(0.0, self.allocated_gb - self.figures.allocated_gb)

    def virtual_free(self, thin: bool) -> float:
        """Cinder's virtual free for a thin/thick request, less pending claims."""
        return self.figures.virtual_free(thin, self.pending_gb)

    def limit_gb(self, thin: bool) -> float:
        """The claim guard's limit: a claim of S fits iff max(ledger, A) + S <= limit."""
        fig = self.figures
        eligible, vf = (
            (fig.eligible_thin, fig.vf_thin) if thin else (fig.eligible_thick, fig.vf_thick)
        )
        if not eligible:
            return fig.allocated_gb - 1.0
        if vf >= UNLIMITED_GB:
            return UNLIMITED_GB
        return fig.allocated_gb + vf

    def free_now_gb(self) -> Any:
        """Reported free space less pending claims ('infinite'/'unknown' as reported)."""
        if self.free_capacity_gb in UNKNOWN or self.free_capacity_gb is None:
            return self.free_capacity_gb
        return float(self.free_capacity_gb) - self.pending_gb

    def passes_capacity(self, size_gb: float, thin: bool) -> bool:
        return self.figures.passes(size_gb, thin, self.pending_gb)
