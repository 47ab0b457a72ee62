"""Domain errors. The API turns each into Cinder's fault body; the domain never
imports FastAPI, so it raises these."""

from __future__ import annotations


class PumiceError(Exception):
    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(PumiceError):
    code = 400


class Unauthorized(PumiceError):
    code = 401


class Forbidden(PumiceError):
    code = 403


class NotFound(PumiceError):
    code = 404


class Conflict(PumiceError):
    code = 409


class OverQuota(PumiceError):
    code = 413


class NotAcceptable(PumiceError):
    code = 406


class TooManyRequests(PumiceError):
    code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        # Seconds until the refusal ends (the Retry-After header).
        self.retry_after = retry_after
