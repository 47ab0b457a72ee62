"""One driver operation at a time per resource, even past an abandoned job."""

from __future__ import annotations

import threading
import time
from typing import Any

from app.agent.jobs import ResourceLocks


def test_operations_on_one_resource_never_overlap() -> None:
    locks = ResourceLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    overlap: list[str] = []
    both_at_once = threading.Event()

    def work(key: str) -> dict[str, Any]:
        inside[key] += 1
        if inside[key] > 1:
            overlap.append(key)
        if inside["a"] and inside["b"]:
            both_at_once.set()  # different resources do run side by side
        time.sleep(0.05)
        inside[key] -= 1
        return {}

    threads = [
        threading.Thread(target=locks.run, args=(k, lambda k=k: work(k)))
        for k in ("a", "a", "a", "b", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert overlap == []
    assert both_at_once.is_set()
    assert locks._held == {}  # nothing kept once every user is done
