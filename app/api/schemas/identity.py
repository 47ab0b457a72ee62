"""What the Keystone subset answers, for /openapi.json (app/identity/keystone.py builds
the bodies; these only describe them). Errors use Keystone's body, not Cinder's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Link(_Strict):
    rel: str
    href: str


class MediaType(_Strict):
    base: str
    type: str


class Version(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    status: str
    updated: str
    links: list[Link]
    media_types: list[MediaType] = Field(alias="media-types")


class VersionResponse(_Strict):
    version: Version


class VersionValues(_Strict):
    values: list[Version]


class VersionsResponse(_Strict):
    versions: VersionValues


class Domain(_Strict):
    id: str
    name: str


class TokenUser(_Strict):
    id: str
    name: str
    domain: Domain
    password_expires_at: str | None


class TokenProject(_Strict):
    id: str
    name: str
    domain: Domain


class Role(_Strict):
    id: str
    name: str


class Endpoint(_Strict):
    id: str
    interface: str
    region: str
    region_id: str
    url: str


class CatalogEntry(_Strict):
    id: str
    type: str
    name: str
    endpoints: list[Endpoint]


class Token(_Strict):
    methods: list[str]
    user: TokenUser
    project: TokenProject
    roles: list[Role]
    audit_ids: list[str]
    issued_at: str
    expires_at: str
    is_domain: bool
    catalog: list[CatalogEntry] | None = Field(
        default=None, description="Left out with ?nocatalog."
    )


class TokenResponse(_Strict):
    token: Token


class SelfLink(_Strict):
    self: str


class CollectionLinks(_Strict):
    self: str
    previous: str | None
    next: str | None


class User(_Strict):
    id: str
    name: str
    domain_id: str
    enabled: bool
    default_project_id: str | None
    password_expires_at: str | None
    options: dict[str, Any]
    links: SelfLink


class UserResponse(_Strict):
    user: User


class UsersResponse(_Strict):
    users: list[User]
    links: CollectionLinks


class Project(_Strict):
    id: str
    name: str
    description: str | None
    domain_id: str
    enabled: bool
    is_domain: bool
    parent_id: str
    tags: list[str]
    options: dict[str, Any]
    links: SelfLink


class ProjectResponse(_Strict):
    project: Project


class ProjectsResponse(_Strict):
    projects: list[Project]
    links: CollectionLinks


class CatalogResponse(_Strict):
    catalog: list[CatalogEntry]
    links: CollectionLinks


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
