"""``POST /api/import``: a ChatGPT, Claude or memchat export, uploaded, as the caller's.

The body is the file itself. It is written to a temporary file as it arrives (held to
MEMCHAT_MAX_IMPORT_BYTES, ``uploads.py``) and imported by ``transfer.import_file``, as
``memchat import`` does: checked whole, then written in one transaction, or not at all.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ...transfer import import_file, is_sdk_database
from ..auth import CurrentUser
from ..errors import ApiError
from ..import_schemas import ImportOut
from ..state import State
from ..uploads import IMPORT_PATH, spool
from . import errors

router = APIRouter(tags=["import"])

# What the body may be labelled; the format is told from the bytes, whatever the label.
_MEDIA = ("application/zip", "application/json", "application/x-ndjson", "application/octet-stream")
_BODY = {
    "requestBody": {
        "required": True,
        "description": "The export file's bytes: a ChatGPT or Claude data export (the ZIP,"
        " or its conversations.json) or a memchat JSONL export (`memchat export`,"
        " `GET /api/export`).",
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in _MEDIA},
    }
}

Learn = Annotated[
    bool, Query(description="Also learn the facts the caller stated in what is imported.")
]
FileName = Annotated[
    str | None,
    Query(
        max_length=255,
        description="The file's name, for error messages and the learned facts' source"
        ' ("import: NAME").',
    ),
]


@router.post(IMPORT_PATH, responses=errors(409, 415), openapi_extra=_BODY)
async def import_history(
    request: Request, state: State, user: CurrentUser, learn: Learn = False, name: FileName = None
) -> ImportOut:
    """Import an export file as the caller's sessions (and facts): all of it, or nothing.

    Every session and fact in it becomes the caller's, whoever a memchat export names.
    Conversations of a ChatGPT or Claude export that an earlier import brought in get
    the turns they gained since (updated), or are left as they are (skipped). A bad file
    is a 400 naming its line (or conversation and node); a session id the caller already
    has, or a conversation to update that chats kept changing meanwhile, a 409; a file
    over MEMCHAT_MAX_IMPORT_BYTES (or a ZIP unpacking to more), a 413; an Agents SDK
    database, a 415 (`memchat import` on the server reads those).
    """
    shown = _file_name(name)
    limit = state.settings.max_import_bytes
    # A private folder (0700), removed with the file whatever happens: the file holds
    # the conversations in the clear for as long as the import takes.
    with tempfile.TemporaryDirectory(prefix="memchat-import-") as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as out:
            size = await spool(request, out, limit, state.settings.read_timeout)
        if size == 0:
            raise ApiError(400, "bad_request", "the request body is empty: send the file's bytes")
        if is_sdk_database(path):
            # SQLite would open a file anybody uploaded: that is for the server's operator.
            raise ApiError(
                415,
                "unsupported_media_type",
                f"{shown} is a SQLite database: upload a ChatGPT, Claude or memchat export;"
                " an Agents SDK database is imported on the server (memchat import FILE --user"
                " NAME)",
            )
        archive = await run_in_threadpool(
            import_file, state.store, path, user.name, learn=learn, name=shown, max_bytes=limit
        )
    return ImportOut.of(archive)


def _file_name(given: str | None) -> str:
    """What to call the upload: the last part of the name given, printable, or "upload"."""
    last = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in last if c.isprintable()).strip() or "upload"
