"""Bodies of /os-quota-sets and /os-quota-class-sets. A quota set is a limit per
resource name: the set is an open object of integers (strings of digits are taken
too, as Cinder takes them)."""

from __future__ import annotations

from typing import ClassVar

from app.api.schemas.base import RequestBody, View

Limit = int | str


class QuotaSetUpdateRequest(RequestBody):
    member: ClassVar[str] = "quota_set"
    quota_set: dict[str, Limit | None]


class QuotaClassSetUpdateRequest(RequestBody):
    member: ClassVar[str] = "quota_class_set"
    quota_class_set: dict[str, Limit | None]


class QuotaUsage(View):
    limit: int
    in_use: int
    reserved: int


class QuotaSetResponse(View):
    """`id` and one member per resource: its limit, or with `?usage=true` its usage."""

    quota_set: dict[str, str | int | QuotaUsage]


class QuotaClassSetResponse(View):
    quota_class_set: dict[str, str | int]
