"""The service catalog a token carries: where the block-storage API and identity live.

Clients find Pumice through it: python-cinderclient looks for type `volumev3`,
openstacksdk and the OpenStack CLI for `block-storage` (with `volumev3` as an alias),
keystoneauth for `identity`. Every service has the same URL on all three interfaces,
since one process answers them all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

INTERFACES = ("public", "internal", "admin")
# Fixed ids derived from names, so every replica and every token agree on them.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pumice/identity")


@dataclass(frozen=True)
class CatalogService:
    type: str
    name: str
    # Appended to the base URL; {project_id} is the token's project.
    path: str


SERVICES = (
    CatalogService("block-storage", "cinder", "/v3/{project_id}"),
    CatalogService("volumev3", "cinderv3", "/v3/{project_id}"),
    CatalogService("identity", "keystone", "/identity"),
)


def stable_id(*parts: str) -> str:
    """A Keystone-looking hex id that is the same wherever and whenever it is made."""
    return uuid.uuid5(_NAMESPACE, "/".join(parts)).hex


def build_catalog(base_url: str, project_id: str, region: str) -> list[dict[str, Any]]:
    base = base_url.rstrip("/")
    return [
        {
            "id": stable_id("service", svc.type),
            "type": svc.type,
            "name": svc.name,
            "endpoints": [
                {
                    "id": stable_id("endpoint", svc.type, interface, region),
                    "interface": interface,
                    "region": region,
                    "region_id": region,
                    "url": base + svc.path.format(project_id=project_id),
                }
                for interface in INTERFACES
            ],
        }
        for svc in SERVICES
    ]
