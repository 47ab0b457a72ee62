"""Sizes as drivers report them: storage counts bytes, Cinder counts GiB (whole GiB for
a volume, two decimals in a capacity report)."""

from __future__ import annotations

import math

GiB = 1024**3


def gib(size_bytes: float) -> float:
    """Bytes as GiB to two decimals (a total, an allocation)."""
    return round(size_bytes / GiB, 2)


def floor_gib(size_bytes: float) -> float:
    """Bytes as GiB to two decimals rounded down, never below 0: free space reported
    is never more than there is."""
    return math.floor(max(0.0, size_bytes) / GiB * 100) / 100


def format_gib(size_bytes: float) -> str:
    """Bytes as GiB for a message: `1.5`, `10`."""
    return f"{size_bytes / GiB:g}"
