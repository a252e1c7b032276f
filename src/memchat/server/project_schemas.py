"""What the API says of projects, and of a verified forgetting (its receipt)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..receipt import Receipt
from ..store.records import Project as ProjectRecord
from .schemas import Project, Strict

# A project's name, or "" for none (a session in no project, a user-wide fact).
ProjectName = Project
Memory = Literal["shared", "scoped"]


class ProjectOut(BaseModel):
    """A project of the caller's: a name sessions are filed under, and how it remembers."""

    name: str
    memory: Memory = Field(
        description="shared: its sessions remember as any other does; scoped: facts learned"
        " in its sessions are its own, and its sessions are given its facts and the"
        " user-wide ones, and recall its sessions only."
    )
    created_at: str
    sessions: int
    facts: int

    @classmethod
    def of(cls, project: ProjectRecord) -> ProjectOut:
        return cls(
            name=project.name,
            memory="scoped" if project.scoped else "shared",
            created_at=project.created_at,
            sessions=project.sessions,
            facts=project.facts,
        )


class ProjectIn(Strict):
    """How a project remembers (the project is made if the caller has none of that name)."""

    memory: Memory


class CopyOut(BaseModel):
    """One place a forgotten word remains."""

    word: str
    where: str


class ReceiptOut(BaseModel):
    """What a deletion removed, and where its text remains (``memchat ... --verify``)."""

    forgot: str
    clean: bool = Field(description="True when no copy of the forgotten text remains.")
    removed: dict[str, int] = Field(description="Rows removed, by table.")
    words: int = Field(description="Distinctive words of the forgotten text looked for.")
    copies: list[CopyOut] = Field(description="Copies that remain (on disk, in derived data).")
    kept: list[CopyOut] = Field(
        description="Words also in text that is kept (so not looked for on disk)."
    )
    scanned: list[str] = Field(description="What was scanned besides the kept data.")
    notes: list[str]

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptOut:
        return cls(
            forgot=receipt.forgot,
            clean=receipt.clean,
            removed=receipt.removed,
            words=len(receipt.needles),
            copies=[CopyOut(word=c.needle, where=c.where) for c in receipt.copies],
            kept=[CopyOut(word=c.needle, where=c.where) for c in receipt.kept],
            scanned=receipt.scanned,
            notes=receipt.notes,
        )


# ``?verify=true`` on the deletes that forget: the receipt instead of an empty 204.
Verify = Annotated[
    bool,
    Query(
        description="Then scan the store for the forgotten text and answer 200 with the"
        " receipt (as `--verify` on the command line), instead of 204."
    ),
]
VERIFIED: dict[int | str, dict[str, Any]] = {
    200: {"model": ReceiptOut, "description": "With verify=true: the receipt."}
}


def receipt_response(receipt: Receipt) -> JSONResponse:
    """The receipt, as the 200 answer of a verified delete."""
    return JSONResponse(ReceiptOut.of(receipt).model_dump())
