"""What both of the agent's job runners (volume backends, the backup service) do with a
catalog kind (app/jobkinds.py): the job's payload read into the kind's model, the
driver's answer into its result model; a misfit is a DriverError, so the job fails
with that reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from app import jobkinds
from app.drivers import DriverError

P = TypeVar("P", bound=jobkinds.Wire)


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
