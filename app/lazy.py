"""Modules loaded on first use, so `pumice --help` and the identity commands start
without importing what only other commands need (SQLAlchemy, the models, pydantic's
settings): the standard library's LazyLoader, one place.

Use it beside a TYPE_CHECKING import so the type checker still sees the real module:

    if TYPE_CHECKING:
        from app.identity import service
    else:
        service = lazy("app.identity.service")
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """The module `name`, executed when one of its attributes is first read."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
