"""What the Keystone subset answers, for /openapi.json (app/identity/keystone.py builds
the bodies; these only describe them). Errors use Keystone's body, not Cinder's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeystoneLink(_Strict):
    rel: str
    href: str


class KeystoneMediaType(_Strict):
    base: str
    type: str


class KeystoneVersion(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    status: str
    updated: str
    links: list[KeystoneLink]
    media_types: list[KeystoneMediaType] = Field(alias="media-types")


class KeystoneVersionResponse(_Strict):
    version: KeystoneVersion


class KeystoneVersionValues(_Strict):
    values: list[KeystoneVersion]


class KeystoneVersionsResponse(_Strict):
    versions: KeystoneVersionValues


class KeystoneDomain(_Strict):
    id: str
    name: str


class KeystoneTokenUser(_Strict):
    id: str
    name: str
    domain: KeystoneDomain
    password_expires_at: str | None


class KeystoneTokenProject(_Strict):
    id: str
    name: str
    domain: KeystoneDomain


class KeystoneRole(_Strict):
    id: str
    name: str


class KeystoneEndpoint(_Strict):
    id: str
    interface: str
    region: str
    region_id: str
    url: str


class KeystoneCatalogEntry(_Strict):
    id: str
    type: str
    name: str
    endpoints: list[KeystoneEndpoint]


class KeystoneToken(_Strict):
    methods: list[str]
    user: KeystoneTokenUser
    project: KeystoneTokenProject
    roles: list[KeystoneRole]
    audit_ids: list[str]
    issued_at: str
    expires_at: str
    is_domain: bool
    catalog: list[KeystoneCatalogEntry] | None = Field(
        default=None, description="Left out with ?nocatalog."
    )


class KeystoneTokenResponse(_Strict):
    token: KeystoneToken


class KeystoneSelfLink(_Strict):
    self: str


class KeystoneCollectionLinks(_Strict):
    self: str
    previous: str | None
    next: str | None


class KeystoneUser(_Strict):
    id: str
    name: str
    domain_id: str
    enabled: bool
    default_project_id: str | None
    password_expires_at: str | None
    options: dict[str, Any]
    links: KeystoneSelfLink


class KeystoneUserResponse(_Strict):
    user: KeystoneUser


class KeystoneUsersResponse(_Strict):
    users: list[KeystoneUser]
    links: KeystoneCollectionLinks


class KeystoneProject(_Strict):
    id: str
    name: str
    description: str | None
    domain_id: str
    enabled: bool
    is_domain: bool
    parent_id: str
    tags: list[str]
    options: dict[str, Any]
    links: KeystoneSelfLink


class KeystoneProjectResponse(_Strict):
    project: KeystoneProject


class KeystoneProjectsResponse(_Strict):
    projects: list[KeystoneProject]
    links: KeystoneCollectionLinks


class KeystoneCatalogResponse(_Strict):
    catalog: list[KeystoneCatalogEntry]
    links: KeystoneCollectionLinks


class KeystoneErrorDetail(_Strict):
    code: int
    message: str
    title: str


class KeystoneError(_Strict):
    error: KeystoneErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": KeystoneError, "description": "A Keystone error body."},
    "5XX": {"model": KeystoneError, "description": "A Keystone error body."},
}


def answers(model: type[BaseModel], status_code: int = 200) -> dict[str, Any]:
    """Route options: `model` documents the body (no response model runs), errors are
    Keystone's."""
    return {"response_model": None, "responses": {status_code: {"model": model}, **ERROR_RESPONSES}}


# --- the admin API (app/api/identity_admin.py) -------------------------------------


class KeystoneRoleDetail(_Strict):
    id: str
    name: str
    domain_id: None
    description: str
    options: dict[str, Any]
    links: KeystoneSelfLink


class KeystoneRoleResponse(_Strict):
    role: KeystoneRoleDetail


class KeystoneRolesResponse(_Strict):
    roles: list[KeystoneRoleDetail]
    links: KeystoneCollectionLinks


class KeystoneDomainDetail(_Strict):
    id: str
    name: str
    description: str
    enabled: bool
    tags: list[str]
    options: dict[str, Any]
    links: KeystoneSelfLink


class KeystoneDomainResponse(_Strict):
    domain: KeystoneDomainDetail


class KeystoneDomainsResponse(_Strict):
    domains: list[KeystoneDomainDetail]
    links: KeystoneCollectionLinks


class KeystoneAssignmentRef(_Strict):
    id: str


class KeystoneAssignmentProject(_Strict):
    project: KeystoneAssignmentRef


class KeystoneAssignmentLinks(_Strict):
    assignment: str


class KeystoneRoleAssignment(_Strict):
    role: KeystoneAssignmentRef
    user: KeystoneAssignmentRef
    scope: KeystoneAssignmentProject
    links: KeystoneAssignmentLinks


class KeystoneRoleAssignmentsResponse(_Strict):
    role_assignments: list[KeystoneRoleAssignment]
    links: KeystoneCollectionLinks
