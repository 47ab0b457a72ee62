"""`run_agent` as a real process (through Typer, as `pumice agent` runs it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.conftest import agent_toml
from tests.agent.fake_api import FakeApiServer
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
MAIN = "import typer; from app.agent.service import run_agent; typer.run(run_agent)"


def start_agent(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MAIN, str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_for(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sigterm_stops_the_agent_cleanly(
    tmp_path: Path, api: FakeApiServer, processes: list[subprocess.Popen[str]]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        agent_toml(api.url, tmp_path / "file1", agent_extra=f'state_dir = "{tmp_path / "state"}"')
    )
    agent = start_agent(config)
    processes.append(agent)
    wait_for(
        lambda: len(api.state.reports_for("node1@file1")) >= 1 or agent.poll() is not None,
        "the agent's first report",
    )
    assert agent.poll() is None, agent.communicate()

    # A second agent with the same state_dir refuses to start.
    second = start_agent(config)
    processes.append(second)
    _, err = second.communicate(timeout=20)
    assert second.returncode == 1
    assert "another agent is running with state_dir" in err

    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    assert "agent stopped" in err
    assert (tmp_path / "file1").is_dir()


def test_a_bad_config_exits_with_a_clear_message(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[agent]\napi_url = 'http://127.0.0.1:1'\n")
    agent = start_agent(config)
    processes.append(agent)
    _, err = agent.communicate(timeout=20)
    assert agent.returncode == 2
    assert err.strip().startswith(f"error: {config}: ")
    assert "auth: Field required" in err
    assert "backends: " in err
    assert "Traceback" not in err


def test_the_agent_exposes_its_jobs_and_reports_to_prometheus(
    tmp_path: Path, api: FakeApiServer, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    config = tmp_path / "agent.toml"
    config.write_text(
        agent_toml(api.url, tmp_path / "file1", agent_extra=f'metrics_address = "127.0.0.1:{port}"')
    )
    agent = start_agent(config)
    processes.append(agent)
    wait_for(
        lambda: len(api.state.reports_for("node1@file1")) >= 1 or agent.poll() is not None,
        "the agent's first report",
    )
    volume = {"id": "0f7c1e2a-5b4d-4c3e-9a8b-7d6e5f4a3b21", "size_gb": 1}
    good = api.state.add_job("create_volume", {"volume": volume}, backend="node1@file1")
    bad = api.state.add_job("extend_volume", {"volume": volume}, backend="node1@file1")
    wait_for(lambda: {good, bad} <= set(api.state.results), "both results")

    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert (
        found[("pumice_agent_jobs_total", (("kind", "create_volume"), ("outcome", "succeeded")))]
        == 1
    )
    # extend_volume without its new size: refused by the kind's payload model.
    assert (
        found[("pumice_agent_jobs_total", (("kind", "extend_volume"), ("outcome", "failed")))] == 1
    )
    assert found[("pumice_agent_job_seconds_count", (("kind", "create_volume"),))] == 1
    assert found[("pumice_agent_reports_total", (("answer", "accepted"),))] >= 1
