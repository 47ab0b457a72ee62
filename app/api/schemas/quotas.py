"""Bodies of /os-quota-sets and /os-quota-class-sets. A quota set is a limit per
resource name: the set is an open object of integers (strings of digits are taken
too, as Cinder takes them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Limit = int | str


class QuotaSetUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    quota_set: dict[str, Limit | None]


class QuotaClassSetUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    quota_class_set: dict[str, Limit | None]


class QuotaUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int
    in_use: int
    reserved: int


class QuotaSetResponse(BaseModel):
    """`id` and one member per resource: its limit, or with `?usage=true` its usage."""

    model_config = ConfigDict(extra="forbid")
    quota_set: dict[str, str | int | QuotaUsage]


class QuotaClassSetResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota_class_set: dict[str, str | int]
