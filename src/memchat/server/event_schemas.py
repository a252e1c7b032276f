"""The events of a reply stream (``POST /api/sessions/{id}/messages``): ``delta`` pieces,
then ``done`` with the stored turn, or ``error``; and their OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..memory.facts import MemoryChanges
from .schemas import SessionOut


class DeltaEvent(BaseModel):
    """The data of a ``delta`` event: the next piece of the reply."""

    text: str


class FactChange(BaseModel):
    """A fact a turn remembered."""

    key: str
    value: str


class MemoryChangesOut(BaseModel):
    """What a turn changed in the caller's facts."""

    remembered: list[FactChange]
    forgotten: list[str]

    @classmethod
    def of(cls, changes: MemoryChanges) -> MemoryChangesOut:
        return cls(
            remembered=[FactChange(key=k, value=v) for k, v in changes.remembered],
            forgotten=list(changes.forgotten),
        )


class DoneEvent(BaseModel):
    """The data of a ``done`` event: the turn is stored; its ``seq``, the session as it is
    now, and what the turn changed in the caller's facts."""

    seq: int = Field(description="The stored turn's `seq` (what `edit_seq` names).")
    session: SessionOut
    memory: MemoryChangesOut


def event_stream_schema() -> dict[str, Any]:
    """The OpenAPI schema of one event of a reply stream (``event`` and its JSON ``data``)."""

    def one(name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": data,
                },
            },
        }

    refs = "#/components/schemas/{model}"
    return {
        # "type" spelled out: FastAPI would otherwise merge in its default "string".
        "type": "object",
        "oneOf": [
            one("delta", DeltaEvent.model_json_schema(ref_template=refs)),
            one("done", DoneEvent.model_json_schema(ref_template=refs)),
            one("error", {"$ref": refs.format(model="ErrorBody")}),
        ],
    }
