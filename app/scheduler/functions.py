"""filter_function / goodness_function: compiled once per distinct source at
ingest, evaluated per candidate with Cinder's variables."""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest
from app.scheduler.evaluator import EvaluationError, Expression, ExpressionError, compile_expression
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState

# Distinct sources are few (one per driver configuration); bound them anyway.
_COMPILED_MAX = 4096


class FunctionCompiler:
    """Compile each distinct expression once; refuse a bad one with its reason."""

    def __init__(self) -> None:
        self._compiled: dict[str, Expression] = {}

    def compile(self, source: Any, where: str) -> Expression | None:
        if source is None or (isinstance(source, str) and not source.strip()):
            return None  # not set: the filter passes, goodness is 0
        if not isinstance(source, str):
            raise BadRequest(f"{where} must be a string or null")
        found = self._compiled.get(source)
        if found is not None:
            return found
        try:
            expression = compile_expression(source)
        except ExpressionError as err:
            raise BadRequest(f"{where} {source[:80]!r} is invalid: {err}") from None
        if len(self._compiled) >= _COMPILED_MAX:
            self._compiled.clear()
        self._compiled[source] = expression
        return expression


# What host_stats takes from the pool's report, and from the pool's figures.
_REPORTED_STATS = ("volume_backend_name", "vendor_name", "driver_version", "storage_protocol")
_POOL_STATS = (
    "total_capacity_gb",
    "allocated_capacity_gb",
    "free_capacity_gb",
    "reserved_percentage",
)


def host_stats(pool: PoolState) -> dict[str, Any]:
    """Cinder's stats.x for a pool (DriverFilter._generate_stats' host_stats)."""
    caps = pool.capabilities
    return {
        "host": pool.key,
        **{name: caps.get(name) for name in _REPORTED_STATS},
        "QoS_support": caps.get("QoS_support", False),
        **{name: getattr(pool, name) for name in _POOL_STATS},
        "availability_zone": pool.backend.availability_zone,
    }


def environment(pool: PoolState, request: VolumeRequest) -> dict[str, Any]:
    return {
        "capabilities": pool.capabilities,
        "stats": host_stats(pool),
        "volume": request.volume_properties(),
        "qos": request.qos_specs,
        "extra": request.extra_specs,
    }


def run(expression: Expression, pool: PoolState, request: VolumeRequest) -> Any:
    """The expression's value; EvaluationError when it fails for this pool."""
    return expression.evaluate(environment(pool, request))


def goodness(pool: PoolState, request: VolumeRequest) -> float:
    """Cinder's GoodnessWeigher rating: 0..100, True is 100, failures are 0."""
    if pool.goodness_function is None:
        return 0.0
    try:
        result = run(pool.goodness_function, pool, request)
    except EvaluationError:
        return 0.0
    if isinstance(result, bool):
        return 100.0 if result else 0.0
    if not isinstance(result, int | float) or not 0 <= result <= 100:
        return 0.0
    return float(result)


def filter_passes(pool: PoolState, request: VolumeRequest) -> bool:
    """Cinder's DriverFilter: no function passes; a failing one does not."""
    if pool.filter_function is None:
        return True
    try:
        return bool(run(pool.filter_function, pool, request))
    except EvaluationError:
        return False
