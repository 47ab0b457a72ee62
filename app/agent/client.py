"""The agent's HTTP client for the API's agent endpoints (docs/CONTRACTS.md).

It keeps a Keystone token (authenticating again on 401 or shortly before expiry) and
retries every call with capped exponential backoff through connection errors and 5xx,
without end: an agent outlives API restarts and upgrades. A 4xx other than 401 is an
answer, not an outage, and is raised at once (409 as `LeaseLost`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
    wait_random,
)

from app.agent.config import AgentConfig

log = structlog.get_logger(__name__)

AGENT_PREFIX = "/agent/v1"
DEFAULT_TIMEOUT = 30.0
# A long-poll answers after up to `wait` seconds; allow this much more for the network.
LONG_POLL_SLACK = 15.0
# What a proxy (or a replica with no database) answers for a replica that cannot serve.
REPLICA_DOWN = frozenset({502, 503, 504})
# Refresh a token when this share of its lifetime (at most 5 minutes) is left.
_REFRESH_SHARE = 0.25
_REFRESH_MAX = timedelta(minutes=5)


class ApiError(Exception):
    """The API answered with a 4xx that retrying will not change."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class LeaseLost(ApiError):
    """409: the job's lease is no longer this agent's; abandon the job."""


class TransientApiError(Exception):
    """The API is unreachable, restarting or failing (5xx): retry later."""


class AuthenticationFailed(TransientApiError):
    """The identity service refused the agent's credentials.

    Retried like an outage: fixing the user in the API recovers a running agent.
    """


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    backend: str
    resource_type: str
    resource_id: str
    payload_version: int
    payload: dict[str, Any]
    attempts: int
    lease_seconds: float
    lease_expires_at: str | None
    request_id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=int(data["id"]),
            kind=str(data["kind"]),
            backend=str(data["backend"]),
            resource_type=str(data.get("resource_type", "")),
            resource_id=str(data.get("resource_id", "")),
            payload_version=int(data.get("payload_version", 1)),
            payload=dict(data.get("payload") or {}),
            attempts=int(data.get("attempts", 1)),
            lease_seconds=float(data.get("lease_seconds", 30)),
            lease_expires_at=data.get("lease_expires_at"),
            request_id=data.get("request_id"),
        )


@dataclass(frozen=True)
class ReportAnswer:
    accepted: bool
    # The sequence number of the report the API holds (None: it holds none).
    seq: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportAnswer:
        seq = data.get("seq")
        return cls(bool(data.get("accepted", False)), int(seq) if seq is not None else None)


@dataclass
class _Token:
    value: str
    # Naive UTC; None when the identity service did not say.
    refresh_at: datetime | None


class AgentClient:
    def __init__(
        self,
        *,
        api_url: str | Sequence[str],
        auth_url: str | None,
        username: str,
        password: str,
        project_name: str,
        agent_id: str,
        user_domain_id: str = "default",
        project_domain_id: str = "default",
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # The agent's host, for messages: the API knows the agent by its token's user.
        self.agent_id = agent_id
        self._username = username
        # Replicas of one API: calls go to the current one; one that stops answering
        # (no connection, 502/503/504) hands the next call to the next URL.
        self._urls = [u.rstrip("/") for u in ([api_url] if isinstance(api_url, str) else api_url)]
        if not self._urls:
            raise ValueError("an agent needs at least one API URL")
        self._current = 0
        # None: the current API's own identity service.
        self._fixed_auth_url = auth_url.rstrip("/") if auth_url else None
        self._credentials = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": username,
                            "domain": {"id": user_domain_id},
                            "password": password,
                        }
                    },
                },
                "scope": {"project": {"name": project_name, "domain": {"id": project_domain_id}}},
            }
        }
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._token: _Token | None = None
        # One authentication at a time: concurrent 401s must not each log in.
        self._auth_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: AgentConfig) -> AgentClient:
        return cls(
            api_url=config.agent.api_urls,
            auth_url=config.auth_url,
            username=config.auth.username,
            password=config.auth.password,
            project_name=config.auth.project_name,
            user_domain_id=config.auth.user_domain_id,
            project_domain_id=config.auth.project_domain_id,
            agent_id=config.agent_id,
            retry_max=config.agent.retry_max_interval,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def api_url(self) -> str:
        """The API URL calls go to now."""
        return self._urls[self._current]

    @property
    def _auth_url(self) -> str:
        return self._fixed_auth_url or f"{self.api_url}/identity/v3"

    def _fail_over(self, failed: str, reason: str) -> None:
        """Move to the next URL, unless another call already moved past `failed`."""
        if len(self._urls) == 1 or not failed.startswith(self.api_url + "/"):
            return
        self._current = (self._current + 1) % len(self._urls)
        log.warning(
            "api unreachable, failing over", failed=failed, reason=reason, next=self.api_url
        )

    # -- agent endpoints ---------------------------------------------------------------

    async def report_capabilities(self, report: dict[str, Any]) -> ReportAnswer:
        """Post one backend's report; not accepted when the API holds a newer one."""
        return ReportAnswer.from_dict(await self._call("/capabilities", report))

    async def report_backup_service(self, report: dict[str, Any]) -> ReportAnswer:
        """Register (and heartbeat) the agent's backup service; not accepted when the
        API already holds a newer report."""
        return ReportAnswer.from_dict(await self._call("/backup-services", report))

    async def restore_exports(self, backends: list[str]) -> dict[str, list[str]]:
        """After a start: the API queues the re-export of what these backends'
        attachments hold; the volumes each backend is to keep exported."""
        answer = await self._call("/exports/restore", {"backends": backends})
        return {str(h): [str(v) for v in ids] for h, ids in answer.get("exports", {}).items()}

    async def claim_job(self, backends: list[str], wait: float) -> Job | None:
        body = await self._call(
            "/jobs/claim",
            {"backends": backends, "wait": wait},
            request_timeout=wait + LONG_POLL_SLACK,
        )
        job = body.get("job")
        return Job.from_dict(job) if job else None

    async def heartbeat(
        self, job_id: int, progress: int | None = None, *, attempt: int
    ) -> str | None:
        """Renew a job's lease; raises LeaseLost when it is no longer this attempt's."""
        body: dict[str, Any] = {"attempt": attempt}
        if progress is not None:
            body["progress"] = progress
        answer = await self._call(f"/jobs/{job_id}/heartbeat", body)
        expires = answer.get("lease_expires_at")
        return str(expires) if expires is not None else None

    async def post_result(
        self,
        job_id: int,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        attempt: int,
    ) -> str:
        """Report a job's outcome (an error message means failure); returns its state."""
        body: dict[str, Any] = {"attempt": attempt}
        if error is None:
            body.update(ok=True, result=result or {})
        else:
            body.update(ok=False, error=error)
        answer = await self._call(f"/jobs/{job_id}/result", body)
        return str(answer.get("state", ""))

    # -- plumbing ----------------------------------------------------------------------

    async def _call(
        self, path: str, body: dict[str, Any], *, request_timeout: float | None = None
    ) -> dict[str, Any]:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientApiError),
            # 0.2 s, 0.4 s, ... up to the cap, plus jitter so agents do not all retry
            # in step after an API restart.
            wait=wait_exponential(multiplier=self._retry_initial, max=self._retry_max)
            + wait_random(0, self._retry_initial),
            stop=stop_never,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._post_authenticated(path, body, request_timeout)
        raise AssertionError("unreachable: tenacity retries until success or a raise")

    async def _post_authenticated(
        self, path: str, body: dict[str, Any], request_timeout: float | None
    ) -> dict[str, Any]:
        token = await self._valid_token()
        response = await self._post(
            self.api_url + AGENT_PREFIX + path, body, token, request_timeout
        )
        if response.status_code == 401:
            # Expired or revoked (or signed by a key the API no longer has): log in again.
            token = await self._reauthenticate(token)
            response = await self._post(
                self.api_url + AGENT_PREFIX + path, body, token, request_timeout
            )
            if response.status_code == 401:
                raise TransientApiError(f"{path}: token refused right after authentication")
        return _json_or_raise(path, response)

    async def _post(
        self, url: str, body: dict[str, Any], token: str | None, request_timeout: float | None
    ) -> httpx.Response:
        headers = {"X-Auth-Token": token} if token else {}
        timeout = httpx.USE_CLIENT_DEFAULT if request_timeout is None else request_timeout
        try:
            response = await self._http.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            self._fail_over(url, type(exc).__name__)
            raise TransientApiError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in REPLICA_DOWN:
            self._fail_over(url, f"HTTP {response.status_code}")
        return response

    async def _valid_token(self) -> str:
        token = self._token
        if token is not None and (token.refresh_at is None or _utcnow() < token.refresh_at):
            return token.value
        return await self._reauthenticate(token.value if token else None)

    async def _reauthenticate(self, stale: str | None) -> str:
        async with self._auth_lock:
            current = self._token
            # Another task already replaced the token that failed for us.
            if current is not None and current.value != stale:
                return current.value
            self._token = await self._authenticate()
            return self._token.value

    async def _authenticate(self) -> _Token:
        url = f"{self._auth_url}/auth/tokens"
        response = await self._post(url, self._credentials, None, None)
        if response.status_code in (401, 403):
            raise AuthenticationFailed(
                f"the identity service refused user {self._username!r}: {_error_message(response)}"
            )
        _json_or_raise(url, response)
        value = response.headers.get("X-Subject-Token")
        if not value:
            raise TransientApiError(f"{url}: no X-Subject-Token in the answer")
        refresh_at = _refresh_time(response)
        log.info(
            "authenticated",
            auth_url=self._auth_url,
            refresh_at=refresh_at.isoformat() if refresh_at else None,
        )
        return _Token(value=value, refresh_at=refresh_at)

    def _log_retry(self, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        # The first failures of an outage are routine (an API restart); say so quietly.
        level = log.warning if state.attempt_number >= 3 else log.info
        level(
            "api call failed, retrying",
            error=str(error),
            attempt=state.attempt_number,
            retry_in=round(wait, 2),
        )


def _json_or_raise(where: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientApiError(f"{where}: {status} {_error_message(response)}")
    if status == 409:
        raise LeaseLost(status, _error_message(response))
    if status >= 400:
        raise ApiError(status, _error_message(response))
    try:
        body = response.json()
    except ValueError:
        raise TransientApiError(f"{where}: {status} answer is not JSON") from None
    if not isinstance(body, dict):
        raise TransientApiError(f"{where}: {status} answer is not a JSON object")
    return body


def _error_message(response: httpx.Response) -> str:
    """The message of a Cinder/Keystone fault body, or the start of the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        for key in ("detail", "message", "error"):
            if key in body:
                return str(body[key])
    return str(body)[:200]


def _refresh_time(response: httpx.Response) -> datetime | None:
    try:
        expires_text = response.json()["token"]["expires_at"]
        expires = datetime.fromisoformat(str(expires_text))
    except (ValueError, KeyError, TypeError):
        return None
    if expires.tzinfo is not None:
        expires = expires.astimezone(UTC).replace(tzinfo=None)
    now = _utcnow()
    margin = min((expires - now) * _REFRESH_SHARE, _REFRESH_MAX)
    return expires - max(margin, timedelta(0))


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
