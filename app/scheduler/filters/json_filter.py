"""JsonFilter: the scheduler hint 'query', Cinder's JSON query language.

    ["and", [">=", "$free_capacity_gb", 100], ["in", "$capabilities.tier", "gold", "silver"]]

Commands: = < > <= >= (the first argument against every other one), in (the
first is one of the others), not (negates each argument), and, or. A string
'$name' or '$name.key' reads the pool (see pool_variables); other strings and
numbers are literals; a variable the pool lacks is dropped from the
arguments, as in Cinder. A query that is not JSON, uses an unknown command or
nests too deep is the caller's mistake: select() raises BadRequest.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from app.errors import BadRequest
from app.scheduler.context import Context
from app.scheduler.filters.base import BaseFilter, register_filter
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState

MAX_QUERY_LENGTH = 8192
MAX_QUERY_DEPTH = 16


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[list[Any]], bool]:
    def compare(args: list[Any]) -> bool:
        if len(args) < 2:
            return False
        try:
            return all(op(args[0], other) for other in args[1:])
        except TypeError:  # e.g. a number against a string
            return False

    return compare


def _in(args: list[Any]) -> bool:
    return len(args) >= 2 and args[0] in args[1:]


COMMANDS: dict[str, Callable[[list[Any]], Any]] = {
    "=": _compare(operator.eq),
    "<": _compare(operator.lt),
    ">": _compare(operator.gt),
    "<=": _compare(operator.le),
    ">=": _compare(operator.ge),
    "in": _in,
    "not": lambda args: [not arg for arg in args],
    "or": any,
    "and": all,
}


def pool_variables(pool: PoolState) -> dict[str, Any]:
    """What '$name' may read: Cinder's PoolState attributes, with free space
    net of claims the agent has not reported yet."""
    caps = pool.capabilities
    return {
        "host": pool.key,
        "pool_name": pool.name,
        "availability_zone": pool.availability_zone,
        "capabilities": caps,
        "total_capacity_gb": pool.total_capacity_gb,
        "free_capacity_gb": pool.free_now_gb(),
        "allocated_capacity_gb": pool.allocated_capacity_gb,
        "provisioned_capacity_gb": pool.provisioned_capacity_gb + pool.pending_gb,
        "reserved_percentage": pool.reserved_percentage,
        "max_over_subscription_ratio": pool.max_over_subscription_ratio,
        "thin_provisioning_support": pool.thin,
        "thick_provisioning_support": pool.thick,
        "multiattach": caps.get("multiattach", False),
        "QoS_support": caps.get("QoS_support", False),
        "volume_backend_name": caps.get("volume_backend_name"),
        "vendor_name": caps.get("vendor_name"),
        "driver_version": caps.get("driver_version"),
        "storage_protocol": caps.get("storage_protocol"),
        "volume_count": pool.volume_count,
    }


def _check(query: Any, depth: int = 0) -> None:
    if depth > MAX_QUERY_DEPTH:
        raise BadRequest(f"the query nests deeper than {MAX_QUERY_DEPTH}")
    if not isinstance(query, list):
        raise BadRequest('the query must be a JSON list such as [">=", "$free_capacity_gb", 10]')
    if not query:
        return
    if not isinstance(query[0], str) or query[0] not in COMMANDS:
        raise BadRequest(f"unknown query command {query[0]!r} (known: {' '.join(COMMANDS)})")
    for arg in query[1:]:
        if isinstance(arg, list):
            _check(arg, depth + 1)


@lru_cache(maxsize=256)
def parse_query(text: str) -> Any:
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    try:
        query = json.loads(text)
    except ValueError as err:
        raise BadRequest(f"the query is not JSON: {err}") from None
    except RecursionError:
        raise BadRequest(f"the query nests deeper than {MAX_QUERY_DEPTH}") from None
    _check(query)
    return query


def request_query(request: VolumeRequest) -> Any:
    query = request.scheduler_hints.get("query")
    if not query:
        return None
    if isinstance(query, str):
        return parse_query(query)
    _check(query)
    return query


def _resolve(text: str, variables: dict[str, Any]) -> Any:
    if not text:
        return None
    if not text.startswith("$"):
        return text
    path = text[1:].split(".")
    value = variables.get(path[0])
    for key in path[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def evaluate(query: list[Any], variables: dict[str, Any]) -> Any:
    if not query:
        return True
    args = []
    for arg in query[1:]:
        if isinstance(arg, list):
            arg = evaluate(arg, variables)
        elif isinstance(arg, str):
            arg = _resolve(arg, variables)
        if arg is not None:
            args.append(arg)
    return COMMANDS[query[0]](args)


@register_filter
class JsonFilter(BaseFilter):
    name = "JsonFilter"

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        query = request_query(request)
        if query is None:
            return True
        result = evaluate(query, pool_variables(pool))
        if isinstance(result, list):
            return any(result)
        return bool(result)

    def filter_mask(self, ctx: Context) -> np.ndarray | bool | None:
        if request_query(ctx.request) is None:
            return True
        return None  # a query is evaluated pool by pool

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        return "does not satisfy the query hint"

    def summary(self, request: VolumeRequest) -> str:
        return f"query {request.scheduler_hints.get('query')!r}"
