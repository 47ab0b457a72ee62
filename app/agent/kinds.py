"""What both of the agent's job runners (volume backends, the backup service) do with
the catalog's kinds (app/jobkinds.py): find a claimed job's kind, read its payload into
the kind's model and the driver's answer into its result model. A job that does not
fit (unknown kind or version, a misfit payload or answer) fails with the reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from app import jobkinds
from app.agent.client import Job
from app.drivers import DriverError

P = TypeVar("P", bound=jobkinds.Wire)


class Bound(Protocol):
    """A catalog kind bound to the handler a runner runs it with."""

    @property
    def kind(self) -> jobkinds.JobKind[Any, Any]: ...


B = TypeVar("B", bound=Bound)
# A job's driver call, ready for a worker thread; it returns the result to post.
Work = Callable[[], dict[str, Any]]


def by_key(*bound: B) -> dict[tuple[str, int], B]:
    """A runner's kinds by (name, payload version): what a claimed job is looked up by."""
    return {b.kind.key: b for b in bound}


def load(kind: jobkinds.JobKind[P, Any], payload: Mapping[str, Any]) -> P:
    try:
        return kind.load(payload)
    except jobkinds.InvalidJobData as exc:
        raise DriverError(str(exc)) from None


def dump_result(
    kind: jobkinds.JobKind[Any, Any], result: Mapping[str, Any], *, driver: str = "driver"
) -> dict[str, Any]:
    """`driver` names who answered, for the reason: "driver", "backup driver"."""
    try:
        return kind.dump_result(result)
    except jobkinds.InvalidJobData as exc:
        raise DriverError(f"the {driver}'s answer to {kind.name}: {exc}") from None


def prepare(kinds: Mapping[tuple[str, int], B], job: Job, bind: Callable[[B], Work]) -> Work | str:
    """The job's work (`bind` of its kind), or why it cannot run here: a kind or payload
    version this agent does not know, or a payload that does not fit its model."""
    kind = kinds.get((job.kind, job.payload_version))
    if kind is None:
        return f"unsupported job {job.kind} version {job.payload_version}"
    try:
        return bind(kind)
    except DriverError as exc:
        return exc.message
