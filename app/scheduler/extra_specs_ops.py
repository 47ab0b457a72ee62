"""Cinder's extra_specs_ops: how CapabilitiesFilter matches one capability value
against one extra spec ('<is> True', '<or> gold <or> silver', '>= 10', 's== x', ...)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")


def bool_from_string(value: Any) -> bool:
    """oslo_utils.strutils.bool_from_string, non-strict."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE_STRINGS


def _ge(x: Any, y: str) -> bool:
    return float(x) >= float(y)


def _contains(x: Any, y: str) -> bool:
    return y in x


OPERATORS: dict[str, Callable[[Any, str], bool]] = {
    "=": _ge,  # Cinder's '=' means "at least", for numbers
    "<in>": _contains,
    "<is>": lambda x, y: bool_from_string(x) is bool_from_string(y),
    "==": lambda x, y: float(x) == float(y),
    "!=": lambda x, y: float(x) != float(y),
    ">=": _ge,
    "<=": lambda x, y: float(x) <= float(y),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}


def match(value: Any, req: str | None) -> bool:
    """Does one capability value satisfy the extra spec req?

    As Cinder: an unknown leading word means plain string equality; '<or>'
    alternatives compare as strings; a value that cannot be compared (float()
    of a word, '<in>' on a number) does not match instead of raising.
    """
    if req is None:
        return value is None
    words = req.split()
    op = words.pop(0) if words else None
    method = OPERATORS.get(op) if op is not None else None
    if op != "<or>" and method is None:
        return bool(value == req)
    if value is None:
        return False
    if op == "<or>":
        return value in words[0::2]
    if not words or method is None:
        return False
    try:
        return bool(method(value, words[0]))
    except (ValueError, TypeError):
        return False


def match_any(cap: Any, req: str | None) -> bool:
    """A list capability matches when any of its values does."""
    if isinstance(cap, list):
        return any(match(v, req) for v in cap)
    return match(cap, req)


def spec_path(key: str) -> list[str] | None:
    """The capability path an extra spec key checks, or None when its scope is
    not ours ('provisioning:type', 'acme:x', 'qos:...': other consumers' specs)."""
    scope = key.split(":")
    if len(scope) > 1 and scope[0] != "capabilities":
        return None
    if scope[0] == "capabilities":
        scope = scope[1:]
    return scope


def lookup(caps: Any, path: list[str]) -> tuple[bool, Any]:
    """(found, value) of a capability path; a missing capability fails."""
    cap = caps
    for part in path:
        try:
            cap = cap[part]
        except (TypeError, KeyError, IndexError):
            return False, None
    return True, cap


def specs_match(caps: dict[str, Any], extra_specs: dict[str, str] | None) -> bool:
    """CapabilitiesFilter on one pool's capabilities."""
    for key, req in (extra_specs or {}).items():
        path = spec_path(key)
        if path is None:
            continue
        found, cap = lookup(caps, path)
        if not found or not match_any(cap, req):
            return False
    return True
