"""Filter plugins: one small class per Cinder filter, registered by name."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from app.errors import BadRequest
from app.scheduler.request import VolumeRequest
from app.scheduler.state import PoolState


class BaseFilter:
    """A filter keeps the pools that can serve a request.

    passes() decides for one pool. A filter may also offer filter_mask() over
    the cache's arrays (see vector.py): the scheduler uses it in the hot path
    and the two must agree, which the tests check pool by pool.
    """

    name: ClassVar[str] = ""

    def passes(self, pool: PoolState, request: VolumeRequest) -> bool:
        raise NotImplementedError

    def reason(self, pool: PoolState, request: VolumeRequest) -> str:
        """Why the pool was removed, for explain()."""
        return "did not pass"

    def summary(self, request: VolumeRequest) -> str:
        """What this filter wanted, for the 'no valid backend' message."""
        return ""


_F = TypeVar("_F", bound=type[BaseFilter])
FILTERS: dict[str, type[BaseFilter]] = {}


def register_filter(cls: _F) -> _F:
    FILTERS[cls.name or cls.__name__] = cls
    return cls


def filter_class(name: str) -> type[BaseFilter]:
    try:
        return FILTERS[name]
    except KeyError:
        known = ", ".join(sorted(FILTERS))
        raise BadRequest(f"unknown scheduler filter {name!r} (known: {known})") from None
