"""Which fields of a response a caller gets at a microversion.

Cinder adds a field to a view at one microversion (`group_id` from 3.13), shows some
only to callers a policy allows (`os-vol-host-attr:host`, Cinder's
volume_extension:volume_host_attribute) or, where Cinder's view asks `is_admin`
itself, to admins (`migration_status`), and some only on some operations (the
extensions' attributes on show and list, never on create). A strict client rejects a
field it did not ask for, so each resource states its fields once, as a table of
`Field`s next to its view, and the view keeps exactly what the table grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.api.microversion import MIN_VERSION, APIVersion
from app.api.policy import POLICIES, allows
from app.context import RequestContext


@dataclass(frozen=True)
class Field:
    """A field shown from `since`, to the callers `policy` (a name in app/api/policy.py)
    allows, to admins only when `admin`."""

    since: APIVersion = MIN_VERSION
    admin: bool = False
    policy: str | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in POLICIES:
            raise KeyError(f"no policy for {self.policy!r}")  # a typo, not a denial

    def shown(self, version: APIVersion, ctx: RequestContext) -> bool:
        return (
            version >= self.since
            and (ctx.is_admin or not self.admin)
            and (self.policy is None or allows(ctx, self.policy))
        )


def select(
    table: Mapping[str, Field], values: Mapping[str, Any], version: APIVersion, ctx: RequestContext
) -> dict[str, Any]:
    """The `values` whose field the caller gets, in the table's order. A value missing
    from `values` is left out: the view decides, e.g., that an operation lacks it."""
    return {
        name: values[name]
        for name, field in table.items()
        if name in values and field.shown(version, ctx)
    }
