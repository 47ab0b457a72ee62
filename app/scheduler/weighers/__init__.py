"""Scheduler weighers, registered by name (importing this package registers them)."""

from app.scheduler.weighers import capacity, more
from app.scheduler.weighers.base import (
    WEIGHERS,
    BaseWeigher,
    normalize,
    register_weigher,
    weigher_class,
)

__all__ = [
    "WEIGHERS",
    "BaseWeigher",
    "capacity",
    "more",
    "normalize",
    "register_weigher",
    "weigher_class",
]
