"""The one way drivers run storage commands (lvm, tgtadm, cp, ...).

Every command gets a timeout (a hung tool must not hold a job's lease forever), a C locale
(so the output we parse is not translated), and a typed result. A failure raises
`CommandError`, a `DriverError` whose message carries the tool's own stderr, because that
is what an operator needs to read in the user message and the log.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import structlog

from app.drivers.base import DriverError

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = 120.0
# Enough of stderr for a readable message; the full text stays on the exception.
_MESSAGE_STDERR_CHARS = 400


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float


class CommandError(DriverError):
    """A command failed, timed out or could not be started."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        *,
        reason: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = reason or _last_lines(stderr) or _last_lines(stdout) or "no output"
        status = "" if returncode is None else f" (exit code {returncode})"
        super().__init__(f"{self.argv[0]} failed{status}: {detail}")


class CommandTimeout(CommandError):
    def __init__(self, argv: Sequence[str], timeout: float, stdout: str, stderr: str) -> None:
        super().__init__(argv, None, stdout, stderr, reason=f"timed out after {timeout:g} s")
        self.timeout = timeout


class CommandRunner:
    """Runs commands for a driver; `env` adds variables (e.g. LVM_SUPPRESS_FD_WARNINGS)."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        prefix: Sequence[str] = (),
    ) -> None:
        self._env = dict(env or {})
        self._timeout = timeout
        # A root helper such as ("sudo", "-n") when the agent does not run as root.
        self._prefix = tuple(prefix)

    def run(
        self,
        *argv: str,
        timeout: float | None = None,
        input: str | None = None,
        ok_returncodes: Collection[int] = (0,),
        env: Mapping[str, str] | None = None,
        redact: Collection[str] = (),
    ) -> CommandResult:
        """Run argv (never through a shell); raise CommandError unless its code is ok.

        `redact`: secrets (a CHAP password) that the command needs in its argv but that
        must never be logged: they are masked in the log, the result and any error."""
        if not argv:
            raise ValueError("no command given")
        full = (*self._prefix, *argv)
        mask = _Mask(redact)
        shown = mask.argv(full)
        limit = self._timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            completed = subprocess.run(
                full,
                input=input,
                capture_output=True,
                text=True,
                timeout=limit,
                env=self._environment(env),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            log.warning("command timed out", argv=shown, timeout=limit)
            stdout, stderr = mask.text(_text(exc.stdout)), mask.text(_text(exc.stderr))
            raise CommandTimeout(shown, limit, stdout, stderr) from None
        except OSError as exc:
            raise CommandError(shown, None, "", "", reason=exc.strerror or str(exc)) from None
        result = CommandResult(
            argv=shown,
            returncode=completed.returncode,
            stdout=mask.text(completed.stdout),
            stderr=mask.text(completed.stderr),
            duration=time.monotonic() - started,
        )
        log.debug("command ran", argv=shown, rc=result.returncode, duration=result.duration)
        if result.returncode not in ok_returncodes:
            raise CommandError(shown, result.returncode, result.stdout, result.stderr)
        return result

    def _environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(LC_ALL="C", LANG="C")
        env.update(self._env)
        env.update(extra or {})
        return env


class _Mask:
    """Replaces secret values with a placeholder wherever command text is kept."""

    PLACEHOLDER = "***"

    def __init__(self, secrets: Collection[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, self.PLACEHOLDER)
        return value

    def argv(self, argv: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.text(arg) for arg in argv)


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output


def _last_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = "; ".join(lines[-3:])
    if len(message) > _MESSAGE_STDERR_CHARS:
        message = "..." + message[-_MESSAGE_STDERR_CHARS:]
    return message
