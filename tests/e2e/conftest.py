"""End-to-end fixtures: `pumice up` started for a test, stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.helpers import Up


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    service = Up(tmp_path / "pumice-data", free_port(), free_port())
    service.start()
    yield service
    if service.process and service.process.poll() is None:
        service.process.kill()
        service.process.wait()
