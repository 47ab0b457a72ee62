"""Target helpers by name, as a backend's `target_helper` option names them."""

from __future__ import annotations

from app.drivers.base import BackendOptions, DriverConfigError
from app.drivers.runner import CommandRunner
from app.drivers.targets.helper import TargetHelper
from app.drivers.targets.tgt import TgtTarget

_HELPERS: dict[str, type[TargetHelper] | None] = {
    TgtTarget.name: TgtTarget,
    # LIO through rtslib-fb, for hosts with configfs: named so that choosing it says
    # "not implemented" rather than "unknown".
    "lioadm": None,
}


def helper_names() -> list[str]:
    """The helpers that can be chosen."""
    return sorted(name for name, helper in _HELPERS.items() if helper is not None)


def check_helper_name(name: str) -> str:
    """`name` when it is an implemented helper; ValueError with the reason otherwise."""
    available = ", ".join(helper_names())
    if name not in _HELPERS:
        raise ValueError(f"unknown target helper {name!r} (available: {available})")
    if _HELPERS[name] is None:
        raise ValueError(f"target helper {name!r} is not implemented (available: {available})")
    return name


def create_target_helper(options: BackendOptions, runner: CommandRunner) -> TargetHelper:
    helper = _HELPERS.get(options.target_helper)
    if helper is None:
        raise DriverConfigError(f"target helper {options.target_helper!r} is not implemented")
    return helper.from_options(options, runner)
