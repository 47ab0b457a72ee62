"""Helpers shared by tests of every package (each package's own are in its helpers.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def file_mode(path: Path) -> int:
    """The permission bits of `path` itself (not of what a link points to)."""
    return stat.S_IMODE(os.lstat(path).st_mode)
