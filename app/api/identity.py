"""The Keystone v3 subset under /identity: version discovery, password authentication
with project scope, token validation, and the self-lookups clients make after login.

Errors here use Keystone's body ({"error": {"code", "message", "title"}}), not
Cinder's, because keystoneauth and Gophercloud parse it; KeystoneRoute converts the
domain errors raised by handlers and dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import RuntimeDep, SessionDep
from app.api.schemas import identity as schemas
from app.db.models import Project, User
from app.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PumiceError,
    TooManyRequests,
    Unauthorized,
)
from app.identity import keystone, revocations, service, throttle
from app.identity.catalog import build_catalog
from app.identity.tokens import UNAUTHORIZED, TokenClaims
from app.runtime import Runtime

log = structlog.get_logger(__name__)
T = TypeVar("T")
Route = TypeVar("Route", bound=Callable[..., Any])
Named = TypeVar("Named", User, Project)

NOT_PERMITTED = "You are not authorized to perform the requested action: {action}."


class KeystoneRoute(APIRoute):
    """Answers every error of an identity endpoint in Keystone's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def keystone_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except TooManyRequests as exc:
                headers = {"Retry-After": str(exc.retry_after)}
                return keystone_error(request, exc.code, exc.message, headers)
            except PumiceError as exc:
                return keystone_error(request, exc.code, exc.message)
            except RequestValidationError as exc:
                return keystone_error(request, 400, _describe(exc))

        return keystone_errors


router = APIRouter(prefix="/identity", tags=["identity"], route_class=KeystoneRoute)


def _reads(path: str, summary: str, model: type[BaseModel]) -> Callable[[Route], Route]:
    """A GET route whose 200 answer is `model`; errors are Keystone's."""
    return router.get(path, summary=summary, **schemas.answers(model))


def answers_no_body(
    method: Callable[..., Callable[[Route], Route]], path: str, summary: str
) -> Callable[[Route], Route]:
    """A route (router.post, router.delete...) that answers 204 with no body."""
    return method(
        path,
        status_code=204,
        summary=summary,
        response_class=Response,
        responses=schemas.ERROR_RESPONSES,
    )


def keystone_error(
    request: Request, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    headers = dict(headers or {})
    if code == 401:
        # Keystone tells a client where to authenticate.
        headers["WWW-Authenticate"] = f'Keystone uri="{identity_url(request)}"'
    return JSONResponse(keystone.error_body(code, message), status_code=code, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"Invalid input for field '{loc}': {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "Invalid request body."


def base_url(request: Request) -> str:
    public: str = request.app.state.runtime.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def identity_url(request: Request) -> str:
    return f"{base_url(request)}/identity"


# --- request bodies (Keystone's schema, extra members ignored) ---------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DomainRef(_Body):
    """An object named by its id or its name."""

    id: str | None = None
    name: str | None = None


class DomainScopedRef(DomainRef):
    """An object named by its id, or by its name within a domain."""

    domain: DomainRef | None = None


class PasswordUser(DomainScopedRef):
    password: str


class PasswordMethod(_Body):
    user: PasswordUser


class TokenMethod(_Body):
    id: str


class Identity(_Body):
    methods: list[str]
    password: PasswordMethod | None = None
    token: TokenMethod | None = None


class ProjectRef(DomainScopedRef):
    pass


class Scope(_Body):
    project: ProjectRef | None = None
    domain: DomainRef | None = None
    system: dict[str, Any] | None = None


class Auth(_Body):
    identity: Identity
    # Keystone also accepts the string "unscoped".
    scope: Scope | str | None = None


class AuthRequest(_Body):
    auth: Auth


class PasswordChange(_Body):
    password: str
    original_password: str


class PasswordChangeRequest(_Body):
    user: PasswordChange


# --- dependencies ----------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The caller of an identity endpoint: its token, and the admin power its scope
    holds as found in the database."""

    claims: TokenClaims
    is_admin: bool

    @property
    def user_id(self) -> str:
        return self.claims.user_id

    @property
    def user_name(self) -> str:
        return self.claims.user_name

    @property
    def project_id(self) -> str:
        return self.claims.project_id

    @property
    def roles(self) -> tuple[str, ...]:
        return self.claims.roles


async def token_caller(request: Request, runtime: RuntimeDep, session: SessionDep) -> Caller:
    """The caller of an identity endpoint, from X-Auth-Token, still valid in the
    database (not revoked, deleted, disabled or stripped of its roles since issue).
    Checked every time: identity calls are rare, and here a revocation must show."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized(UNAUTHORIZED)
    claims = runtime.tokens.verify(token)
    check = await service.check_token(session, claims)
    if check is None:
        raise Unauthorized(UNAUTHORIZED)
    return Caller(claims, check.is_admin)


CallerDep = Annotated[Caller, Depends(token_caller)]


def _may_act_for(caller: Caller, user_id: str) -> bool:
    return caller.is_admin or caller.user_id == user_id


def client_address(request: Request) -> str:
    # The peer as the server sees it, never X-Forwarded-For (anyone can write that
    # header); behind a proxy, let uvicorn resolve the peer (--forwarded-allow-ips).
    return request.client.host if request.client else ""


async def _password_checked(
    request: Request,
    runtime: Runtime,
    session: AsyncSession,
    *,
    subject: str,
    shown: str,
    attempt: Callable[[], Awaitable[T]],
) -> T:
    """Run a password check under the login throttle: refused while locked, a failure
    counted, logged (who and from where, never the password) and held back once half
    a limit is spent; a success clears the user's counts. The caller commits."""
    rules = throttle.Rules.from_settings(runtime.settings)
    address = client_address(request)
    try:
        await throttle.check(session, rules, subject, address)
    except TooManyRequests as exc:
        log.warning(
            "authentication refused after repeated failures",
            user=shown,
            address=address,
            retry_after=exc.retry_after,
        )
        raise
    try:
        result = await attempt()
    except Unauthorized:
        # Any refusal counts, a right password with a wrong scope too: the throttle
        # then tells a guesser no more than the answer does.
        delay = await throttle.record_failure(session, rules, subject, address)
        await session.commit()
        log.warning("authentication failed", user=shown, address=address)
        await asyncio.sleep(delay)
        raise
    await throttle.record_success(session, rules, subject, address)
    return result


# --- version discovery -----------------------------------------------------------


@router.get(
    "",
    status_code=300,
    summary="Identity API versions",
    **schemas.answers(schemas.KeystoneVersionsResponse, 300),
)
@router.get("/", status_code=300, include_in_schema=False)
async def identity_versions(request: Request) -> JSONResponse:
    # Keystone answers its root with 300 Multiple Choices and a {"versions": {"values"}}.
    return JSONResponse(keystone.versions_body(identity_url(request)), status_code=300)


@_reads("/v3", "Identity API v3", schemas.KeystoneVersionResponse)
@router.get("/v3/", include_in_schema=False)
async def identity_v3(request: Request) -> dict[str, Any]:
    return {"version": keystone.version_body(identity_url(request))}


# --- tokens ----------------------------------------------------------------------


@router.post(
    "/v3/auth/tokens",
    status_code=201,
    summary="Password authentication",
    **schemas.answers(schemas.KeystoneTokenResponse, 201),
)
async def issue_token(
    body: AuthRequest, request: Request, runtime: RuntimeDep, session: SessionDep
) -> JSONResponse:
    """Authenticate with the password (or token) method and get a project-scoped token
    in the X-Subject-Token header; add `?nocatalog` to leave the catalog out."""
    identity = body.auth.identity
    project_name, project_id = _requested_project(body.auth.scope)
    expires_at = None
    if "password" in identity.methods:
        if identity.password is None:
            raise BadRequest("Expecting to find password in identity.")
        user = identity.password.user
        if user.id is None and user.name is None:
            raise BadRequest("Expecting to find id or name in user.")
        if user.id is None and user.domain and not _default_domain(user.domain):
            raise Unauthorized(UNAUTHORIZED)
        result = await _password_checked(
            request,
            runtime,
            session,
            subject=await service.login_subject(session, user_name=user.name, user_id=user.id),
            shown=str(user.id or user.name),
            attempt=lambda: service.authenticate(
                session,
                user_name=user.name,
                user_id=user.id,
                password=user.password,
                project_name=project_name,
                project_id=project_id,
            ),
        )
        methods: tuple[str, ...] = ("password",)
        chain = ""
    elif "token" in identity.methods:
        if identity.token is None:
            raise BadRequest("Expecting to find token in identity.")
        # Rescoping: the new token lives no longer than the one presented, and belongs
        # to its audit chain, so revoking the password token revokes this one too.
        claims = runtime.tokens.verify(identity.token.id)
        if not await service.token_still_valid(session, claims):
            raise Unauthorized(UNAUTHORIZED)
        if project_name is None and project_id is None:
            project_id = claims.project_id
        result = await service.rescope(
            session, user_id=claims.user_id, project_name=project_name, project_id=project_id
        )
        expires_at = claims.expires_at
        methods = ("token", *(m for m in claims.methods if m != "token"))
        chain = claims.audit_chain_id
    else:
        raise Unauthorized(UNAUTHORIZED)
    # A password hash upgraded during verification, the login counters cleared.
    await session.commit()
    token, claims = runtime.tokens.issue(
        user_id=result.user.id,
        user_name=result.user.name,
        project_id=result.project.id,
        project_name=result.project.name,
        roles=result.roles,
        is_admin=result.is_admin,
        expires_at=expires_at,
        methods=methods,
        chain=chain,
        generation=result.user.token_generation,
    )
    content = keystone.token_body(
        claims,
        base_url=base_url(request),
        region=runtime.settings.region,
        with_catalog="nocatalog" not in request.query_params,
    )
    return JSONResponse(content, status_code=201, headers={"X-Subject-Token": token})


def _requested_project(scope: Scope | str | None) -> tuple[str | None, str | None]:
    """(name, id) of the project a request asks for; neither means the default one."""
    if scope is None or isinstance(scope, str):
        return None, None
    if scope.project is None:
        # Domain and system scopes do not exist here: no role can be held on them.
        if scope.domain is not None or scope.system is not None:
            raise Unauthorized(UNAUTHORIZED)
        return None, None
    project = scope.project
    if project.id is not None:
        return None, project.id
    if project.name is None:
        raise BadRequest("Expecting to find id or name in project.")
    if project.domain is not None and not _default_domain(project.domain):
        raise Unauthorized(UNAUTHORIZED)
    return project.name, None


def _default_domain(domain: DomainRef) -> bool:
    return keystone.is_default_domain(domain.id, domain.name)


async def _subject(
    request: Request,
    caller: Caller,
    runtime: Runtime,
    session: AsyncSession,
    action: str = "identity:validate_token",
) -> tuple[str, TokenClaims]:
    """The token named by X-Subject-Token, if the caller may see (or revoke) it: its
    own, or any for an admin or a service (Keystone's default validate_token and
    revoke_token policies). A revoked or no longer valid token is not found."""
    token = request.headers.get("x-subject-token", "")
    try:
        subject = runtime.tokens.verify(token)
    except Unauthorized as exc:
        raise NotFound("Could not find token.") from exc
    if not (_may_act_for(caller, subject.user_id) or "service" in caller.roles):
        raise Forbidden(NOT_PERMITTED.format(action=action))
    if await service.check_token(session, subject) is None:
        raise NotFound("Could not find token.")
    return token, subject


@_reads("/v3/auth/tokens", "Validate a token", schemas.KeystoneTokenResponse)
async def validate_token(
    request: Request, caller: CallerDep, runtime: RuntimeDep, session: SessionDep
) -> JSONResponse:
    token, subject = await _subject(request, caller, runtime, session)
    content = keystone.token_body(
        subject,
        base_url=base_url(request),
        region=runtime.settings.region,
        with_catalog="nocatalog" not in request.query_params,
    )
    return JSONResponse(content, headers={"X-Subject-Token": token})


@router.head(
    "/v3/auth/tokens",
    summary="Check a token",
    response_class=Response,
    responses=schemas.ERROR_RESPONSES,
)
async def check_token(
    request: Request, caller: CallerDep, runtime: RuntimeDep, session: SessionDep
) -> Response:
    token, _ = await _subject(request, caller, runtime, session)
    return Response(status_code=200, headers={"X-Subject-Token": token})


@answers_no_body(router.delete, "/v3/auth/tokens", "Revoke a token")
async def revoke_token(
    request: Request, caller: CallerDep, runtime: RuntimeDep, session: SessionDep
) -> Response:
    """Revoke the X-Subject-Token token (and, for a password token, every token
    rescoped from it): 404 on GET/HEAD and 401 everywhere from then on; at once on
    this replica, within token_check_ttl_seconds on the others."""
    _, subject = await _subject(request, caller, runtime, session, "identity:revoke_token")
    await revocations.revoke(session, subject)
    await session.commit()
    runtime.token_checks.forget_user(subject.user_id)
    log.info("token revoked", user=subject.user_id, audit_id=subject.audit_id, by=caller.user_id)
    return Response(status_code=204)


@_reads("/v3/auth/projects", "Projects the caller may scope to", schemas.KeystoneProjectsResponse)
async def auth_projects(request: Request, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    projects = await service.list_user_projects(session, caller.user_id)
    return _projects_page(request, projects)


@_reads("/v3/auth/catalog", "The caller's service catalog", schemas.KeystoneCatalogResponse)
async def auth_catalog(request: Request, caller: CallerDep, runtime: RuntimeDep) -> dict[str, Any]:
    catalog = build_catalog(base_url(request), caller.project_id, runtime.settings.region)
    return _page(request, "catalog", catalog)


# --- users and projects (self-lookups; everything for an admin) --------------------


@_reads("/v3/users", "List users (admin)", schemas.KeystoneUsersResponse)
async def users(
    request: Request, caller: CallerDep, session: SessionDep, name: str | None = None
) -> dict[str, Any]:
    _require_admin(caller, "identity:list_users")
    found = _named(await service.list_users(session), name)
    return _page(request, "users", [keystone.user_body(u, identity_url(request)) for u in found])


@_reads("/v3/users/{user_id}", "Show a user (self or admin)", schemas.KeystoneUserResponse)
async def user(
    user_id: str, request: Request, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    found = await _visible_user(session, caller, user_id, "identity:get_user")
    return {"user": keystone.user_body(found, identity_url(request))}


@answers_no_body(router.post, "/v3/users/{user_id}/password", "Change one's password")
async def change_password(
    user_id: str,
    body: PasswordChangeRequest,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> Response:
    """Keystone's self-service change: no token needed, the original password is the
    proof (under the login throttle, as a login). Every token of the user stops
    working; log in again with the new password."""
    await _password_checked(
        request,
        runtime,
        session,
        subject=await service.login_subject(session, user_name=None, user_id=user_id),
        shown=user_id,
        attempt=lambda: service.change_password(
            session, user_id, body.user.original_password, body.user.password
        ),
    )
    await session.commit()
    runtime.token_checks.forget_user(user_id)
    log.info("password changed", user=user_id)
    return Response(status_code=204)


@_reads(
    "/v3/users/{user_id}/projects",
    "A user's projects (self or admin)",
    schemas.KeystoneProjectsResponse,
)
async def user_projects(
    user_id: str, request: Request, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    found = await _visible_user(session, caller, user_id, "identity:list_user_projects")
    return _projects_page(request, await service.list_user_projects(session, found.id))


@_reads("/v3/projects", "List projects (admin)", schemas.KeystoneProjectsResponse)
async def projects(
    request: Request, caller: CallerDep, session: SessionDep, name: str | None = None
) -> dict[str, Any]:
    _require_admin(caller, "identity:list_projects")
    found = _named(await service.list_projects(session), name)
    return _projects_page(request, found)


@_reads(
    "/v3/projects/{project_id}", "Show a project (member or admin)", schemas.KeystoneProjectResponse
)
async def project(
    project_id: str, request: Request, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    if caller.is_admin:
        found = await service.get_project(session, project_id)
    else:
        # Others' projects answer 403 whether they exist or not: they stay private.
        mine = await service.list_user_projects(session, caller.user_id)
        match = [p for p in mine if project_id in (p.id, p.name)]
        if not match:
            raise Forbidden(NOT_PERMITTED.format(action="identity:get_project"))
        found = match[0]
    return {"project": keystone.project_body(found, identity_url(request))}


def _named(found: list[Named], name: str | None) -> list[Named]:
    """Keystone's `?name=` filter of a list: all when no name is asked."""
    return [item for item in found if name is None or item.name == name]


def _require_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(NOT_PERMITTED.format(action=action))


async def _visible_user(
    session: AsyncSession, caller: Caller, name_or_id: str, action: str
) -> User:
    if caller.is_admin:
        return await service.get_user(session, name_or_id)
    if name_or_id in (caller.user_id, caller.user_name):
        return await service.get_user(session, caller.user_id)
    raise Forbidden(NOT_PERMITTED.format(action=action))


def _projects_page(request: Request, projects: list[Project]) -> dict[str, Any]:
    url = identity_url(request)
    return _page(request, "projects", [keystone.project_body(p, url) for p in projects])


def _page(request: Request, member: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Keystone's list body: the items under `member`, and the links of the page."""
    return {member: bodies, "links": keystone.collection_links(str(request.url))}
