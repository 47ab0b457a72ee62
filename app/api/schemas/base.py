"""What the bodies of every Block Storage router share: the base models and the field
groups Cinder repeats across resources.

Requests are checked here for shape (an object, the resource's member present, values
of the documented types, extra keys allowed as Cinder ignores them), with Cinder's
messages where Cinder has one; the router still applies Cinder's own value checks and
messages to the body. Responses are documentation only: each view decides per
microversion and caller which of these fields it sends (app/api/fields.py), so every
field that is not always there has a default, and a model forbids the fields it does
not list so a test can check that nothing undocumented is sent."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SkipValidation,
    create_model,
    model_validator,
)

from app.api.common import check_text
from app.errors import BadRequest


class RequestBody(BaseModel):
    """A request's JSON object, decoded and checked once: its shape here, with Cinder's
    messages; when `member` is set, its `member` must be an object too. The router reads
    the values as sent (`raw`, `content`) and applies Cinder's value checks to them, so a
    lenient field's coercion (a boolean taken for an integer) never hides a bad value."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    member: ClassVar[str] = ""
    # What an empty body lacks, named in its 400 when it is not `member` (a format of
    # the path's parameters: "{key}").
    element: ClassVar[str] = ""
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _cinder_shape(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        # Cinder's 400s, raised as the domain's so the fault keeps Cinder's message.
        if isinstance(data, bytes):  # no JSON content type: read it as JSON anyway
            try:
                data = json.loads(data)
            except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is one
                raise BadRequest("Malformed request body") from exc
        if not isinstance(data, dict):
            raise BadRequest("Malformed request body: it must be a JSON object.")
        check_text(data)
        if cls.member and not isinstance(data.get(cls.member), dict):
            raise BadRequest(f"Missing required element '{cls.member}' in request body.")
        body = handler(data)
        body._raw = data
        return body

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object as it was sent."""
        return self._raw

    @property
    def content(self) -> dict[str, Any]:
        """The member's object as it was sent (the whole body when there is no member)."""
        return self._raw[self.member] if self.member else self._raw


class Part(BaseModel):
    """A member of a request body: extra keys allowed, as Cinder ignores them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class View(BaseModel):
    """A response object: only the fields it lists."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# Lenient scalar types: Cinder takes a number as a string, a boolean as one of its words.
Integer = int | str
Boolean = bool | str
Metadata = dict[str, str]
# In a request, documented as Metadata but checked by the domain (Cinder's messages).
RequestMetadata = Annotated[dict[str, str], SkipValidation]


class Link(View):
    href: str
    rel: str


# --- field groups of requests -----------------------------------------------------------------


class Naming(Part):
    """The name and description a create or update body may set."""

    name: str | None = None
    description: str | None = None


class LegacyNaming(Naming):
    """Naming, also under Cinder's older names (a volume's or snapshot's v1 names)."""

    display_name: str | None = Field(None, description="Cinder's older name for `name`.")
    display_description: str | None = Field(
        None, description="Cinder's older name for `description`."
    )


class Labels(LegacyNaming):
    """LegacyNaming and the metadata a volume or snapshot body may set."""

    metadata: RequestMetadata | None = None


class OfVolume(Part):
    """A body about one volume (a snapshot or backup of it): its volume_id is required,
    but checked by the router for Cinder's message."""

    model_config = ConfigDict(json_schema_extra={"required": ["volume_id"]})
    volume_id: str | None = None


class Empty(Part):
    pass


class StatusReset(Part):
    """os-reset_status of a resource with one status: the status to set."""

    status: str


class AdminActionRequest(RequestBody):
    """Exactly one action (one member) per request; os-force_delete takes no arguments,
    each resource adds its os-reset_status."""

    element: ClassVar[str] = "action"
    force_delete: Empty | None = Field(None, alias="os-force_delete")


# --- responses --------------------------------------------------------------------------------


class Resource(View):
    """What every volume, snapshot and backup shows."""

    id: str
    name: str | None = None
    description: str | None = None
    status: str
    size: int = Field(description="In GiB.")
    created_at: str
    updated_at: str | None = None


def wrapped(name: str, member: str, item: Any, alias: str | None = None) -> type[View]:
    """The response model `name`: one member holding `item` (e.g. `{"volume": {...}}`)."""
    fields: dict[str, Any] = {member: (item, Field(alias=alias) if alias else ...)}
    return create_model(name, __base__=View, **fields)


def listing(
    name: str, member: str, item: type[BaseModel], *, links: str = "", count: bool = True
) -> type[View]:
    """The response model `name` of a list: `member` holding the page of items,
    `{links}_links` the next page's link (`links` defaults to `member`) and, when
    `count`, the count from 3.45 with `with_count`."""
    fields: dict[str, Any] = {
        member: (list[item], ...),  # type: ignore[valid-type]  # a model chosen at run time
        f"{links or member}_links": (list[Link] | None, None),
    }
    if count:
        fields["count"] = (int | None, Field(None, description="From 3.45, with `with_count`."))
    return create_model(name, __base__=View, **fields)
