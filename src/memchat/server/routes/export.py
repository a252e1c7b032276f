"""``GET /api/export``: the caller's sessions as memchat JSONL or Markdown."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query, Response

from ...transfer import session_records, user_facts, write_jsonl, write_markdown
from ..auth import CurrentUser
from ..schemas import ExportFormat
from ..state import State
from . import errors
from .sessions import own_session

router = APIRouter(prefix="/api", tags=["export"])

_MEDIA = {"jsonl": "application/x-ndjson", "markdown": "text/markdown"}


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "The export: JSONL (for `memchat import`) or Markdown.",
            "content": {media: {"schema": {"type": "string"}} for media in _MEDIA.values()},
        },
        **errors(404),
    },
)
async def export(
    state: State,
    user: CurrentUser,
    format: Annotated[ExportFormat, Query()] = "jsonl",
    session: Annotated[str | None, Query(description="Only this session.")] = None,
) -> Response:
    """Export one of the caller's sessions, or all of them with the caller's facts."""
    if session is not None:
        chosen = [own_session(state.store, user.name, session)]
        facts = []  # facts are the user's, not one session's
    else:
        chosen = list(reversed(state.store.list_sessions(user.name)))
        facts = user_facts(state.store, user.name)
    out = io.StringIO()
    write = write_jsonl if format == "jsonl" else write_markdown
    write(session_records(state.store, chosen), out, facts)
    name = f"memchat-{user.name}{'-' + session if session else ''}"
    suffix = "jsonl" if format == "jsonl" else "md"
    return Response(
        out.getvalue(),
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{_safe(name)}.{suffix}"'},
    )


def _safe(name: str) -> str:
    # Names may hold any letter, but a header must be ASCII-safe.
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-@+") else "-" for c in name)
