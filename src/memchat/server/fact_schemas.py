"""What the API says of a fact: its value, where it came from, what it was before."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..memory.timeline import Version
from ..store.records import Fact, FactSource


class FactSourceOut(BaseModel):
    """A message a fact was learned from: turn ``seq`` of session ``session_id``."""

    session_id: str
    seq: int
    item_id: int

    @classmethod
    def of(cls, source: FactSource) -> FactSourceOut:
        return cls(session_id=source.session_id, seq=source.seq, item_id=source.item_id)


class FactOut(BaseModel):
    """Something the caller said about themselves, remembered across sessions."""

    id: int
    key: str
    value: str
    source: str = Field(description="How it was learned: a turn (session#seq), manual, api...")
    updated_at: str
    valid_from: str | None = Field(description="Since when it has had this value.")
    sources: list[FactSourceOut] = Field(
        description="The messages it was learned from (none if set by hand or imported)."
    )
    project: str = Field(description='The scoped project it belongs to ("": user-wide).')

    @classmethod
    def of(cls, fact: Fact, sources: list[FactSource] | None = None) -> FactOut:
        return cls(
            id=fact.id,
            key=fact.key,
            value=fact.value,
            source=fact.source,
            updated_at=fact.updated_at,
            valid_from=fact.valid_from,
            sources=[FactSourceOut.of(source) for source in sources or []],
            project=fact.project,
        )


class FactVersionOut(BaseModel):
    """A value the fact had, from ``valid_from`` until ``valid_to`` (None: still has)."""

    value: str
    source: str
    valid_from: str
    valid_to: str | None
    sources: list[FactSourceOut]

    @classmethod
    def of(cls, version: Version) -> FactVersionOut:
        return cls(
            value=version.value,
            source=version.source,
            valid_from=version.valid_from,
            valid_to=version.valid_to,
            sources=[FactSourceOut.of(source) for source in version.sources],
        )
