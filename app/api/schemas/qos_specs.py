"""Bodies of /qos-specs (see schemas/types.py for how requests and responses are used).
A QoS specs body is its name and consumer beside free-form keys: the models allow
extra members, and those are the specs."""

from __future__ import annotations

from typing import ClassVar

from app.api.schemas.base import Link, Part, RequestBody, View, wrapped
from app.api.schemas.types import SpecValue


class QosSpecsCreate(Part):
    name: str
    consumer: str | None = None


class QosSpecsCreateRequest(RequestBody):
    member: ClassVar[str] = "qos_specs"
    qos_specs: QosSpecsCreate


class QosSpecsUpdateRequest(RequestBody):
    member: ClassVar[str] = "qos_specs"
    qos_specs: dict[str, SpecValue]


class QosKeysRequest(RequestBody):
    keys: list[str]


# --- responses -------------------------------------------------------------------------------


class QosSpecs(View):
    id: str
    name: str
    consumer: str
    specs: dict[str, str]


class QosSpecsResponse(View):
    qos_specs: QosSpecs
    links: list[Link]


QosSpecsListResponse = wrapped("QosSpecsListResponse", "qos_specs", list[QosSpecs])
QosSpecsUpdateResponse = wrapped("QosSpecsUpdateResponse", "qos_specs", dict[str, str])


class QosAssociation(View):
    association_type: str
    name: str
    id: str


QosAssociationsResponse = wrapped(
    "QosAssociationsResponse", "qos_associations", list[QosAssociation]
)
