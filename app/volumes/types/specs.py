"""What volume types and group types share: finding one the caller may see, listing
them, checking a name, and their key/value specs (volume types' extra specs, group
types' group specs) checked, set key by key, deleted key by key, read as a dict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.context import RequestContext
from app.db.models import GroupType, VolumeType, utcnow
from app.errors import BadRequest, Conflict, NotFound

MAX_TEXT = 255


Kind = TypeVar("Kind", VolumeType, GroupType)


@dataclass(frozen=True)
class TypeCatalog(Generic[Kind]):
    """One kind of type (volume types, group types) as callers find and check it."""

    model: type[Kind]
    noun: str  # for messages: "Volume type"
    specs_member: str  # the body's member holding the specs: "extra_specs"
    spec_noun: str  # one spec, for messages: "extra spec"
    visible: Callable[[RequestContext], Any]  # the clause of the types a caller sees
    spec_row: Any  # the ORM class of one spec (VolumeTypeExtraSpec, GroupTypeSpec)
    # Whether anything still uses the type (by id): such a type is not deleted.
    in_use: Callable[[AsyncSession, str], Awaitable[bool]]

    async def get(self, session: AsyncSession, ctx: RequestContext, id_or_name: str) -> Kind:
        """By id, else by name, among the types the caller may see (Cinder's order)."""
        for column in (self.model.id, self.model.name):
            query = select(self.model).where(column == id_or_name, self.visible(ctx))
            found = (await session.scalars(query)).first()
            if found is not None:
                return found
        raise NotFound(f"{self.noun} {id_or_name} could not be found.")

    async def default(
        self, session: AsyncSession, name: str, ctx: RequestContext | None = None
    ) -> Kind:
        """The configured default type, by name; among those `ctx` may see when given
        (a private default group type is the admin's), else whatever its access."""
        query = select(self.model).where(self.model.name == name)
        if ctx is not None:
            query = query.where(self.visible(ctx))
        found = (await session.scalars(query)).first()
        if found is None:
            raise NotFound(f"Default {self.noun.lower()} {name} could not be found.")
        return found

    async def list_types(
        self, session: AsyncSession, ctx: RequestContext, is_public: bool | None = None
    ) -> list[Kind]:
        """The types the caller may see, oldest first; only public or private if asked."""
        model = self.model
        query = select(model).where(self.visible(ctx)).order_by(model.created_at, model.id)
        if is_public is not None:
            query = query.where(model.is_public.is_(is_public))
        return list((await session.scalars(query)).all())

    async def name_taken(
        self, session: AsyncSession, name: str, other_than: str | None = None
    ) -> bool:
        query = select(self.model.id).where(self.model.name == name)
        if other_than is not None:
            query = query.where(self.model.id != other_than)
        return (await session.scalars(query)).first() is not None

    async def create(
        self,
        session: AsyncSession,
        name: str,
        description: str | None,
        is_public: bool,
        specs: dict[str, str],
    ) -> Kind:
        """A new type with its specs; Cinder's 409 when the name is taken."""
        if await self.name_taken(session, name):
            raise Conflict(f"{self.noun.title()} {name} already exists.")
        rows = [self.spec_row(key=k, value=v) for k, v in specs.items()]
        kind = self.model(name=name, description=description, is_public=is_public)
        setattr(kind, self.specs_member, rows)
        session.add(kind)
        await session.flush()
        return kind

    async def rename(
        self, session: AsyncSession, kind: Kind, name: str, default_name: str | None
    ) -> None:
        """Cinder's 400 for renaming the configured default, 409 for a name taken."""
        if name != kind.name and default_name and kind.name == default_name:
            raise BadRequest(f"The default {self.noun.lower()} cannot be renamed.")
        if await self.name_taken(session, name, other_than=kind.id):
            raise Conflict(f"{self.noun.title()} {name} already exists.")
        kind.name = name
        kind.updated_at = utcnow()

    async def remove(self, session: AsyncSession, kind: Kind, default_name: str | None) -> None:
        """Delete a type; Cinder's 400 for the configured default or one in use."""
        noun = self.noun.lower()
        if default_name and kind.name == default_name:
            raise BadRequest(f"The default {noun} cannot be deleted.")
        if await self.in_use(session, kind.id):
            raise BadRequest(f"Target {noun} {kind.id} is still in use.")
        await session.delete(kind)

    def validate_name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_TEXT:
            raise BadRequest(
                f"{self.noun} name must be a non-empty string of at most {MAX_TEXT} characters."
            )
        return name.strip()

    def validate_specs(self, specs: object) -> dict[str, str]:
        """Specs as strings (a number or boolean is taken as its text)."""
        if not isinstance(specs, dict):
            raise BadRequest(f"{self.specs_member} must be an object.")
        out: dict[str, str] = {}
        for key, value in specs.items():
            if not isinstance(key, str) or not key or len(key) > MAX_TEXT:
                raise BadRequest(
                    f"{self.spec_noun.capitalize()} keys must be non-empty strings of at most "
                    f"{MAX_TEXT} characters."
                )
            out[key] = spec_text(
                value,
                f"Value for {self.spec_noun} {key} must be a string of at most "
                f"{MAX_TEXT} characters.",
            )
        return out


def spec_text(value: object, refusal: str) -> str:
    """A spec's value as stored: a string, or a number or boolean as its text (as
    Cinder's database keeps them); BadRequest(`refusal`) for anything else or for
    more than MAX_TEXT characters."""
    if isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str | int | float) or len(str(value)) > MAX_TEXT:
        raise BadRequest(refusal)
    return str(value)


@dataclass(frozen=True)
class SpecStore:
    row: Any  # the ORM class of one spec (VolumeTypeExtraSpec, GroupTypeSpec)
    owner_column: str  # its column naming the type: "volume_type_id"
    relation: str  # the type's relationship to its specs: "extra_specs"
    missing: str  # "{type_id}" / "{key}" message of a key that is not there

    async def set(self, session: AsyncSession, owner: Any, specs: dict[str, str]) -> None:
        items = getattr(owner, self.relation)
        current = {s.key: s for s in items}
        for key, value in specs.items():
            if key in current:
                current[key].value = value
            else:
                items.append(self.row(key=key, value=value))
        owner.updated_at = utcnow()
        await session.flush()

    async def delete(self, session: AsyncSession, owner: Any, key: str) -> None:
        result = await session.execute(
            delete(self.row).where(
                getattr(self.row, self.owner_column) == owner.id, self.row.key == key
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(self.missing.format(type_id=owner.id, key=key))
        await session.refresh(owner, [self.relation])

    def of(self, owner: Any) -> dict[str, str]:
        return {s.key: s.value for s in getattr(owner, self.relation)}
