"""FastAPI dependencies: the runtime, a database session, the caller and the version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.microversion import MIN_VERSION, APIVersion
from app.context import RequestContext
from app.errors import Forbidden, NotFound, Unauthorized
from app.identity import service as identity_service
from app.runtime import Runtime
from app.volumes.kernel.work import UnitOfWork, unit_of_work


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    reads_only = request.method in ("GET", "HEAD")
    maker = runtime.read_sessionmaker if reads_only else runtime.sessionmaker
    async with maker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_work(request: Request, runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: committed when the endpoint returns, before the
    response is sent (scope="function"), so a failed commit answers as an error, never
    as a success; rolled back when the endpoint raises."""
    async with request_work(request, runtime) as work:
        yield work


def request_work(request: Request, runtime: Runtime) -> AbstractAsyncContextManager[UnitOfWork]:
    """The request's unit of work, for an endpoint that opens it itself because it must
    wait for something after the commit (an agent's answer) before it replies."""
    reads_only = request.method in ("GET", "HEAD")
    maker = runtime.read_sessionmaker if reads_only else runtime.sessionmaker
    return unit_of_work(runtime, maker, getattr(request.state, "request_id", ""))


WorkDep = Annotated[UnitOfWork, Depends(get_work, scope="function")]


def get_version(request: Request) -> APIVersion:
    version: APIVersion = (
        request.state.api_version if hasattr(request.state, "api_version") else MIN_VERSION
    )
    return version


VersionDep = Annotated[APIVersion, Depends(get_version)]


async def wait_for_first_reports(runtime: RuntimeDep) -> None:
    await runtime.first_reports()


# A placement's route declares it after the caller's context and before its unit of
# work: no transaction is held while it waits.
FirstReportsDep = Annotated[None, Depends(wait_for_first_reports)]


async def get_context(request: Request, runtime: RuntimeDep) -> RequestContext:
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    claims = runtime.tokens.verify(token)
    checked = runtime.token_checks.recall(claims.token_id)
    if checked is None:
        # A signature proves the token was issued, not that its user, project and roles
        # still exist or that it was not revoked: check, in a session of its own (the
        # endpoint's may open a write transaction later), and remember a good answer
        # briefly (TokenChecks says how briefly).
        async with runtime.read_sessionmaker() as session:
            check = await identity_service.check_token(session, claims)
        if check is None:
            raise Unauthorized("The request you have made requires authentication.")
        checked = runtime.token_checks.remember(
            claims.token_id, claims.user_id, check.is_admin, check.project_name
        )
    return RequestContext(
        user_id=claims.user_id,
        project_id=claims.project_id,
        project_name=checked.project_name,
        roles=frozenset(claims.roles),
        is_admin=checked.is_admin,
        request_id=getattr(request.state, "request_id", ""),
    )


ContextDep = Annotated[RequestContext, Depends(get_context)]


def project_scope(project_id: str | None, ctx: RequestContext) -> None:
    """A URL's project must be the caller's own; an admin may name any project."""
    if project_id is not None and project_id != ctx.project_id and not ctx.is_admin:
        raise Forbidden("Policy doesn't allow this operation to be performed.")


def require_admin(ctx: ContextDep) -> RequestContext:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow this operation to be performed.")
    return ctx


AdminDep = Annotated[RequestContext, Depends(require_admin)]


def require_service(ctx: ContextDep) -> RequestContext:
    """An agent: the service role on project 'service'. An admin is not an agent."""
    if not ctx.is_service:
        raise Forbidden("Only agents (the service role on project 'service') may do this.")
    return ctx


ServiceDep = Annotated[RequestContext, Depends(require_service)]


def require_writer(ctx: ContextDep) -> RequestContext:
    if not ctx.can_write:
        raise Forbidden("Policy doesn't allow this operation to be performed.")
    return ctx


WriterDep = Annotated[RequestContext, Depends(require_writer)]


def min_version(version: APIVersion, request_version: APIVersion) -> None:
    """An API that does not exist below `version`: Cinder answers 404."""
    if request_version < version:
        raise NotFound("The resource could not be found.")
