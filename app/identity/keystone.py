"""Keystone v3 wire bodies: version documents, tokens, users, projects and errors, in
the shapes keystoneauth, openstacksdk and Gophercloud parse. No FastAPI here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db.models import Project, User
from app.identity.catalog import build_catalog, stable_id
from app.identity.tokens import TokenClaims

# Pumice has one domain, Keystone's default one.
DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
DEFAULT_DOMAIN = {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}

API_VERSION = "v3.14"
API_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def is_default_domain(domain_id: str | None, domain_name: str | None) -> bool:
    """Whether a domain reference (either part may be absent) names the default domain."""
    if domain_id is not None and domain_id.lower() != DEFAULT_DOMAIN_ID:
        return False
    return domain_name is None or domain_name.lower() == DEFAULT_DOMAIN_NAME.lower()


def isotime(moment: datetime) -> str:
    """Keystone's timestamp: UTC with microseconds and a Z, '2026-11-25T16:00:00.000000Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "title": TITLES.get(code, "Error")}}


def version_body(identity_url: str) -> dict[str, Any]:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": API_UPDATED,
        "links": [{"rel": "self", "href": f"{identity_url}/v3/"}],
        "media-types": MEDIA_TYPES,
    }


def versions_body(identity_url: str) -> dict[str, Any]:
    return {"versions": {"values": [version_body(identity_url)]}}


def token_body(
    claims: TokenClaims,
    *,
    base_url: str,
    region: str,
    with_catalog: bool = True,
) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": list(claims.methods),
        "user": {
            "id": claims.user_id,
            "name": claims.user_name,
            "domain": dict(DEFAULT_DOMAIN),
            "password_expires_at": None,
        },
        "project": {
            "id": claims.project_id,
            "name": claims.project_name,
            "domain": dict(DEFAULT_DOMAIN),
        },
        "roles": [{"id": role_id(role), "name": role} for role in claims.roles],
        # Keystone's: the token's own, then (rescoped) the chain it belongs to.
        "audit_ids": list(dict.fromkeys([claims.audit_id, claims.audit_chain_id])),
        "issued_at": isotime(claims.issued_at),
        "expires_at": isotime(claims.expires_at),
        "is_domain": False,
    }
    if with_catalog:
        token["catalog"] = build_catalog(base_url, claims.project_id, region)
    return {"token": token}


def role_id(role: str) -> str:
    return stable_id("role", role)


def user_body(user: User, identity_url: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "domain_id": DEFAULT_DOMAIN_ID,
        "enabled": user.enabled,
        "default_project_id": user.default_project_id,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{identity_url}/v3/users/{user.id}"},
    }


def project_body(project: Project, identity_url: str) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "domain_id": DEFAULT_DOMAIN_ID,
        "enabled": project.enabled,
        "is_domain": False,
        "parent_id": DEFAULT_DOMAIN_ID,
        "tags": [],
        "options": {},
        "links": {"self": f"{identity_url}/v3/projects/{project.id}"},
    }


def collection_links(self_url: str) -> dict[str, Any]:
    return {"self": self_url, "previous": None, "next": None}
