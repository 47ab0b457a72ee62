"""Bodies of /qos-specs (see schemas/types.py for how requests and responses are used).
A QoS specs body is its name and consumer beside free-form keys: the models allow
extra members, and those are the specs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.api.schemas.groups import Link
from app.api.schemas.types import SpecValue


class QosSpecsCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    consumer: str | None = None


class QosSpecsCreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    qos_specs: QosSpecsCreate


class QosSpecsUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    qos_specs: dict[str, SpecValue]


class QosKeysRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    keys: list[str]


# --- responses -------------------------------------------------------------------------------


class QosSpecs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    consumer: str
    specs: dict[str, str]


class QosSpecsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qos_specs: QosSpecs
    links: list[Link]


class QosSpecsListResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qos_specs: list[QosSpecs]


class QosSpecsUpdateResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qos_specs: dict[str, str]


class QosAssociation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    association_type: str
    name: str
    id: str


class QosAssociationsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qos_associations: list[QosAssociation]
