"""Log lines as collectors read them: JSON objects when stderr is not a terminal (a
container, a service manager), readable lines when asked, the request id in each, no
local variables in tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = """
import structlog
from app.logs import configure_logging
configure_logging()
structlog.contextvars.bind_contextvars(request_id="req-42")
log = structlog.get_logger("pumice.test")
log.info("volume created", volume_id="v1")
def fail(password="hunter2-local"):
    raise RuntimeError("boom")
try:
    fail()
except RuntimeError:
    log.exception("job failed")
"""


def run(log_format: str | None) -> list[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if log_format is not None:
        env["PUMICE_LOG_FORMAT"] = log_format
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def test_off_a_terminal_each_line_is_a_json_object_with_the_request_id() -> None:
    lines = run(None)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == 2 and len(lines) == 2  # the traceback is inside its record
    created, failed = records
    assert created["event"] == "volume created" and created["volume_id"] == "v1"
    assert created["request_id"] == failed["request_id"] == "req-42"
    assert created["level"] == "info" and created["timestamp"].endswith("Z")
    assert failed["level"] == "error" and "RuntimeError: boom" in failed["exception"]
    assert "hunter2-local" not in "\n".join(lines)  # no local variables


def test_console_lines_when_asked_and_an_unknown_format_says_so() -> None:
    lines = run("console")
    assert not any(line.startswith("{") for line in lines)
    assert any("volume created" in line and "req-42" in line for line in lines)
    assert "hunter2-local" not in "\n".join(lines)
    lines = run("yaml")
    assert "PUMICE_LOG_FORMAT='yaml' is none of auto, json, console: using auto" in lines[0]
    assert json.loads(lines[1])["event"] == "volume created"
