"""What the API says of an import (``POST /api/import``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..transfer import Archive

# The answer names this many of the new sessions at most; an export can hold thousands.
LISTED = 100


class ImportOut(BaseModel):
    """What an import brought in: all of the file (or nothing, and an error instead)."""

    sessions: int = Field(description="Sessions imported, all the caller's.")
    turns: int = Field(
        description="The turns imported on active lines: the new sessions', and the new"
        " turns of the updated ones."
    )
    branches: int = Field(
        description="The new sessions' other branches (edited messages, regenerated replies)."
    )
    branch_turns: int = Field(description="The turns on those branches.")
    facts: int = Field(
        description="Facts in the file and, with learn=true, facts learned from it (a stored"
        " fact of the same key is replaced only by a newer one)."
    )
    updated: int = Field(
        description="Conversations of a ChatGPT or Claude export that an earlier import"
        " brought in and that went on since: their new turns were added after the stored"
        " ones (and are counted in turns)."
    )
    skipped: int = Field(
        description="Conversations of a ChatGPT or Claude export that an earlier import"
        " brought in, left as they are: nothing new, or no longer the start of what the"
        " export holds (edited in the app, or changed in memchat)."
    )
    session_ids: list[str] = Field(description=f"The new sessions' ids (the first {LISTED}).")

    @classmethod
    def of(cls, archive: Archive) -> ImportOut:
        branches = [branch for record in archive.sessions for branch in record.branches]
        return cls(
            sessions=len(archive.sessions),
            turns=archive.turns,
            branches=len(branches),
            branch_turns=sum(len(branch.turns) for branch in branches),
            facts=len(archive.facts),
            updated=archive.updated,
            skipped=archive.skipped,
            session_ids=[record.id for record in archive.sessions[:LISTED]],
        )
