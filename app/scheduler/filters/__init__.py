"""Scheduler filters, registered by name (importing this package registers them)."""

from app.scheduler.filters import (
    affinity,
    availability_zone,
    capabilities,
    capacity,
    driver,
    ignore_attempted,
    json_filter,
)
from app.scheduler.filters.base import FILTERS, BaseFilter, filter_class, register_filter

__all__ = [
    "FILTERS",
    "BaseFilter",
    "affinity",
    "availability_zone",
    "capabilities",
    "capacity",
    "driver",
    "filter_class",
    "ignore_attempted",
    "json_filter",
    "register_filter",
]
