"""`/openapi.json` is a contract a client can be generated from: a standard generator from
PyPI (openapi-python-client) builds a Python client from the document a running `pumice up`
serves, and that client alone (its operations and typed models) drives a volume's life
while the real agent creates, extends and removes the volume file."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import need
from tests.e2e.helpers import BIN, Up, wait_for

pytestmark = pytest.mark.e2e

GENERATOR = BIN / "openapi-python-client"
PACKAGE = "pumice_generated_client"
MICROVERSION = "volume 3.71"
GIB = 1024**3


def generate(up: Up, where: Path) -> Path:
    """The generated package's parent folder; the generator must not warn about the document."""
    where.mkdir()
    document = where / "openapi.json"
    response = httpx.get(f"{up.endpoint}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    document.write_bytes(response.content)
    # No post hooks: the generated code is imported, not read, and nothing may need the network.
    config = where / "generator.yaml"
    config.write_text("post_hooks: []\n")
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(where / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Anything it prints beyond "Generating <path>" is a warning about the document.
    assert done.stdout.strip().splitlines() == [f"Generating {where / PACKAGE}"], done.stdout
    return where


@pytest.fixture
def client_package(up: Up, tmp_path: Path) -> Iterator[Any]:
    need(GENERATOR.exists(), "openapi-python-client")
    parent = generate(up, tmp_path / "generated")
    sys.path.insert(0, str(parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def admin_token(up: Up) -> tuple[str, str]:
    """(token, project id) for the admin `pumice up` wrote into clouds.yaml; the identity
    call is plain HTTP: the generated client is for the Block Storage API."""
    auth = yaml.safe_load((up.data_dir / "clouds.yaml").read_text())["clouds"]["pumice"]["auth"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "domain": {"id": "default"},
                        "password": auth["password"],
                    }
                },
            },
            "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}},
        }
    }
    r = httpx.post(f"{up.endpoint}/identity/v3/auth/tokens?nocatalog", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


def test_a_generated_client_drives_a_volume_life(up: Up, client_package: Any) -> None:
    api = importlib.import_module(f"{PACKAGE}.api.volumes")
    models = importlib.import_module(f"{PACKAGE}.models")
    ops = {
        name: importlib.import_module(f"{api.__name__}.{name}")
        for name in (
            "volumes_create",
            "volumes_show",
            "volumes_list",
            "volumes_list_detail",
            "volumes_action",
            "volumes_delete",
        )
    }
    token, project_id = admin_token(up)
    client = client_package.AuthenticatedClient(
        base_url=up.endpoint,
        token=token,
        prefix="",
        auth_header_name="X-Auth-Token",
        headers={"OpenStack-API-Version": MICROVERSION},
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(30),
    )

    def show() -> Any:
        return ops["volumes_show"].sync_detailed(project_id, volume_id, client=client)

    def status() -> str:
        response = show()
        assert response.status_code == 200, response.content
        assert isinstance(response.parsed, models.VolumeResponse)
        return str(response.parsed.volume.status)

    with client:
        request = models.VolumeCreateRequest(
            volume=models.VolumeCreate(size=1, name="generated", description="from openapi")
        )
        created = ops["volumes_create"].sync_detailed(project_id, client=client, body=request)
        assert created.status_code == 202, created.content
        assert isinstance(created.parsed, models.VolumeResponse)
        volume_id = created.parsed.volume.id
        assert created.parsed.volume.name == "generated"

        wait_for(lambda: status() == "available", timeout=30)
        shown = show().parsed
        assert isinstance(shown.volume, models.Volume)
        assert (shown.volume.size, shown.volume.description) == (1, "from openapi")
        assert shown.volume.consumes_quota is True  # a 3.65 field: the header went through
        path = up.data_dir / "volumes" / f"volume-{volume_id}"
        assert path.stat().st_size == 1 * GIB

        listed = ops["volumes_list"].sync(project_id, client=client)
        assert isinstance(listed, models.VolumeListResponse)
        assert [(v.id, v.name) for v in listed.volumes] == [(volume_id, "generated")]
        detailed = ops["volumes_list_detail"].sync(project_id, client=client)
        assert isinstance(detailed, models.VolumeDetailListResponse)
        assert [(v.id, v.status, v.size) for v in detailed.volumes] == [(volume_id, "available", 1)]

        extend = models.VolumeActionRequest(os_extend=models.Extend(new_size=2))
        extended = ops["volumes_action"].sync_detailed(
            project_id, volume_id, client=client, body=extend
        )
        assert extended.status_code == 202, extended.content
        wait_for(lambda: show().parsed.volume.size == 2 and status() == "available", timeout=30)
        assert path.stat().st_size == 2 * GIB

        deleted = ops["volumes_delete"].sync_detailed(project_id, volume_id, client=client)
        assert deleted.status_code == 202, deleted.content
        wait_for(lambda: show().status_code == 404, timeout=30)
        gone = show().parsed
        assert isinstance(gone, models.Fault)
        assert gone.item_not_found.code == 404
        assert not path.exists()
