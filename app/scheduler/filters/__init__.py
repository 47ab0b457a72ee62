"""Scheduler filters, registered by name (importing this package registers them)."""

from app.scheduler.filters import availability_zone, capabilities, capacity
from app.scheduler.filters.base import FILTERS, BaseFilter, filter_class, register_filter

__all__ = [
    "FILTERS",
    "BaseFilter",
    "availability_zone",
    "capabilities",
    "capacity",
    "filter_class",
    "register_filter",
]
