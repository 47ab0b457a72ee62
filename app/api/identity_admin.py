"""Keystone v3's admin API, the subset OpenStack tooling needs to make and remove its
own throwaway projects and users (tempest's dynamic credentials, `openstack project
create`, `openstack user create`, `openstack role add`): projects and users (create,
update, delete), roles (read), role grants on projects, role assignments, and the one
domain (read). Admin only, as Keystone's defaults; Keystone's error bodies.

The `pumice project|user|role` commands call the same service functions
(app/identity/service.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from app.api.deps import RuntimeDep, SessionDep
from app.api.identity import (
    NOT_PERMITTED,
    Caller,
    CallerDep,
    KeystoneRoute,
    answers_no_body,
    identity_url,
)
from app.api.schemas import identity as schemas
from app.context import ROLES
from app.errors import BadRequest, Forbidden, NotFound
from app.identity import keystone, service

router = APIRouter(prefix="/identity", tags=["identity admin"], route_class=KeystoneRoute)

ROLE_DESCRIPTIONS = {
    "admin": "Everything, in every project.",
    "member": "Create and manage the project's resources.",
    "reader": "Read the project's resources.",
    "service": "A storage agent or another OpenStack service (on project 'service').",
}
DOMAIN_DESCRIPTION = "The default domain: the only one."


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProjectFields(_Body):
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    domain_id: str | None = None


class ProjectBody(_Body):
    project: ProjectFields


class UserFields(_Body):
    name: str | None = None
    password: str | None = None
    enabled: bool | None = None
    default_project_id: str | None = None
    domain_id: str | None = None


class UserBody(_Body):
    user: UserFields


def _admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(NOT_PERMITTED.format(action=action))


def _default_domain_only(domain_id: str | None) -> None:
    if domain_id not in (None, keystone.DEFAULT_DOMAIN_ID):
        raise BadRequest(f"Domain {domain_id!r} does not exist: only 'default' does.")


def _role_name(role_id: str) -> str:
    for role in ROLES:
        if role_id in (keystone.role_id(role), role):
            return role
    raise NotFound(f"Could not find role: {role_id}.")


def _role_body(role: str, url: str) -> dict[str, Any]:
    role_id = keystone.role_id(role)
    return {
        "id": role_id,
        "name": role,
        "domain_id": None,
        "description": ROLE_DESCRIPTIONS.get(role, ""),
        "options": {},
        "links": {"self": f"{url}/v3/roles/{role_id}"},
    }


def _domain_body(url: str) -> dict[str, Any]:
    return {
        "id": keystone.DEFAULT_DOMAIN_ID,
        "name": keystone.DEFAULT_DOMAIN_NAME,
        "description": DOMAIN_DESCRIPTION,
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{url}/v3/domains/{keystone.DEFAULT_DOMAIN_ID}"},
    }


def _page(request: Request, member: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return {member: bodies, "links": keystone.collection_links(str(request.url))}


# --- projects ------------------------------------------------------------------------


@router.post(
    "/v3/projects",
    summary="Create a project (admin)",
    **schemas.answers(schemas.KeystoneProjectResponse, 201),
)
async def create_project(
    body: ProjectBody, request: Request, caller: CallerDep, session: SessionDep
) -> JSONResponse:
    _admin(caller, "identity:create_project")
    fields = body.project
    _default_domain_only(fields.domain_id)
    if not fields.name:
        raise BadRequest("A project needs a name.")
    project = await service.create_project(session, fields.name, fields.description or "")
    if fields.enabled is False:
        await service.update_project(session, project.id, enabled=False)
    await session.commit()
    return JSONResponse(
        {"project": keystone.project_body(project, identity_url(request))}, status_code=201
    )


@router.patch(
    "/v3/projects/{project_id}",
    summary="Update a project (admin)",
    **schemas.answers(schemas.KeystoneProjectResponse),
)
async def update_project(
    project_id: str,
    body: ProjectBody,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    _admin(caller, "identity:update_project")
    fields = body.project
    _default_domain_only(fields.domain_id)
    project = await service.update_project(
        session,
        project_id,
        name=fields.name,
        description=fields.description,
        enabled=fields.enabled,
    )
    await session.commit()
    if fields.enabled is False:
        # Its members' tokens stop working here at once, elsewhere within the check TTL.
        runtime.token_checks.clear()
    return {"project": keystone.project_body(project, identity_url(request))}


@answers_no_body(router.delete, "/v3/projects/{project_id}", "Delete a project (admin)")
async def delete_project(
    project_id: str, caller: CallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    _admin(caller, "identity:delete_project")
    await service.delete_project(session, project_id)
    await session.commit()
    runtime.token_checks.clear()
    return Response(status_code=204)


# --- users ---------------------------------------------------------------------------


@router.post(
    "/v3/users",
    summary="Create a user (admin)",
    **schemas.answers(schemas.KeystoneUserResponse, 201),
)
async def create_user(
    body: UserBody, request: Request, caller: CallerDep, session: SessionDep
) -> JSONResponse:
    _admin(caller, "identity:create_user")
    fields = body.user
    _default_domain_only(fields.domain_id)
    if not fields.name or not fields.password:
        raise BadRequest("A user needs a name and a password.")
    user = await service.create_user(
        session, fields.name, fields.password, fields.default_project_id
    )
    if fields.enabled is False:
        await service.set_user_enabled(session, user.id, False)
    await session.commit()
    return JSONResponse({"user": keystone.user_body(user, identity_url(request))}, status_code=201)


@router.patch(
    "/v3/users/{user_id}",
    summary="Update a user (admin)",
    **schemas.answers(schemas.KeystoneUserResponse),
)
async def update_user(
    user_id: str,
    body: UserBody,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    _admin(caller, "identity:update_user")
    fields = body.user
    _default_domain_only(fields.domain_id)
    user = await service.update_user(
        session,
        user_id,
        name=fields.name,
        password=fields.password,
        enabled=fields.enabled,
        default_project=fields.default_project_id,
    )
    await session.commit()
    runtime.token_checks.forget_user(user.id)
    return {"user": keystone.user_body(user, identity_url(request))}


@answers_no_body(router.delete, "/v3/users/{user_id}", "Delete a user (admin)")
async def delete_user(
    user_id: str, caller: CallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    _admin(caller, "identity:delete_user")
    user = await service.get_user(session, user_id)
    await service.delete_user(session, user.id)
    await session.commit()
    runtime.token_checks.forget_user(user.id)
    return Response(status_code=204)


# --- roles and grants ----------------------------------------------------------------


@router.get(
    "/v3/roles", summary="List roles (admin)", **schemas.answers(schemas.KeystoneRolesResponse)
)
async def list_roles(
    request: Request, caller: CallerDep, name: str | None = None
) -> dict[str, Any]:
    _admin(caller, "identity:list_roles")
    url = identity_url(request)
    return _page(request, "roles", [_role_body(r, url) for r in ROLES if name in (None, r)])


@router.get(
    "/v3/roles/{role_id}",
    summary="Show a role (admin)",
    **schemas.answers(schemas.KeystoneRoleResponse),
)
async def show_role(role_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    _admin(caller, "identity:get_role")
    return {"role": _role_body(_role_name(role_id), identity_url(request))}


GRANT = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"


@dataclass(frozen=True)
class Grant:
    """The role grant a GRANT path names."""

    project_id: str
    user_id: str
    role_id: str

    @property
    def role(self) -> str:
        return _role_name(self.role_id)


GrantDep = Annotated[Grant, Depends()]


@answers_no_body(router.put, GRANT, "Grant a role on a project (admin)")
async def grant_role(
    grant: GrantDep, caller: CallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    _admin(caller, "identity:create_grant")
    user = await service.get_user(session, grant.user_id)
    await service.add_role(session, user.id, grant.project_id, grant.role)
    await session.commit()
    runtime.token_checks.forget_user(user.id)
    return Response(status_code=204)


# HEAD is what clients send (openstacksdk, tempest); GET answers the same. One
# documented operation: two would share an operationId.
@router.head(GRANT, include_in_schema=False)
@answers_no_body(router.get, GRANT, "Check a grant (admin)")
async def check_grant(grant: GrantDep, caller: CallerDep, session: SessionDep) -> Response:
    _admin(caller, "identity:check_grant")
    role = grant.role
    held = await service.list_role_assignments(
        session, user=grant.user_id, project=grant.project_id
    )
    if not any(view.role == role for view in held):
        raise NotFound(f"Could not find role assignment with role: {grant.role_id}.")
    return Response(status_code=204)


@answers_no_body(router.delete, GRANT, "Revoke a role on a project (admin)")
async def revoke_grant(
    grant: GrantDep, caller: CallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    _admin(caller, "identity:revoke_grant")
    user = await service.get_user(session, grant.user_id)
    await service.remove_role(session, user.id, grant.project_id, grant.role)
    await session.commit()
    runtime.token_checks.forget_user(user.id)
    return Response(status_code=204)


@router.get(
    "/v3/projects/{project_id}/users/{user_id}/roles",
    summary="A user's roles on a project (admin)",
    **schemas.answers(schemas.KeystoneRolesResponse),
)
async def list_grants(
    project_id: str, user_id: str, request: Request, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    _admin(caller, "identity:list_grants")
    held = await service.list_role_assignments(session, user=user_id, project=project_id)
    url = identity_url(request)
    return _page(request, "roles", [_role_body(view.role, url) for view in held])


@router.get(
    "/v3/role_assignments",
    summary="List role assignments (admin)",
    **schemas.answers(schemas.KeystoneRoleAssignmentsResponse),
)
async def role_assignments(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    user_id: str | None = Query(None, alias="user.id"),
    project_id: str | None = Query(None, alias="scope.project.id"),
    role_id: str | None = Query(None, alias="role.id"),
) -> dict[str, Any]:
    _admin(caller, "identity:list_role_assignments")
    role = _role_name(role_id) if role_id is not None else None
    held = await service.list_role_assignments(session, user=user_id, project=project_id)
    url = identity_url(request)
    bodies = [
        {
            "role": {"id": keystone.role_id(view.role)},
            "user": {"id": view.user_id},
            "scope": {"project": {"id": view.project_id}},
            "links": {
                "assignment": f"{url}/v3/projects/{view.project_id}/users/{view.user_id}"
                f"/roles/{keystone.role_id(view.role)}"
            },
        }
        for view in held
        if role in (None, view.role)
    ]
    return _page(request, "role_assignments", bodies)


# --- domains (read) ------------------------------------------------------------------


@router.get(
    "/v3/domains",
    summary="List domains (admin)",
    **schemas.answers(schemas.KeystoneDomainsResponse),
)
async def list_domains(
    request: Request, caller: CallerDep, name: str | None = None
) -> dict[str, Any]:
    _admin(caller, "identity:list_domains")
    found = (
        []
        if name not in (None, keystone.DEFAULT_DOMAIN_NAME)
        else [_domain_body(identity_url(request))]
    )
    return _page(request, "domains", found)


@router.get(
    "/v3/domains/{domain_id}",
    summary="Show a domain (admin)",
    **schemas.answers(schemas.KeystoneDomainResponse),
)
async def show_domain(domain_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    _admin(caller, "identity:get_domain")
    if domain_id != keystone.DEFAULT_DOMAIN_ID:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return {"domain": _domain_body(identity_url(request))}
