"""Where scheduler plugins (filters, weighers) are found by their Cinder names."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from app.errors import BadRequest

T = TypeVar("T", bound=type[Any])


class Plugins(Generic[T]):
    """The classes of one sort of plugin by name: a class's `name`, else its own."""

    def __init__(self, sort: str) -> None:
        self.sort = sort
        self.by_name: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """A class decorator: `cls` can be named in the scheduler's settings."""
        self.by_name[cls.name or cls.__name__] = cls
        return cls

    def get(self, name: str) -> T:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise BadRequest(f"unknown scheduler {self.sort} {name!r} (known: {known})") from None
