"""Lists a page at a time: ``limit`` and an opaque ``cursor`` in, the next page in ``Link``.

A cursor says where the previous page ended (a session's or fact's position, a turn's
sequence number, a count of search hits) and which list it belongs to, as base64url JSON;
a cursor of one list is refused by another. Clients pass it back as it came, in the URL
of the ``Link: <...>; rel="next"`` header (RFC 8288), which a last page does not have.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from .errors import not_found

T = TypeVar("T")

Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Where the previous page ended: from its `Link` header, as it came.",
    ),
]

# The 200 answer of a paged list, for the spec: its Link header.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of the list.",
        "headers": {
            "Link": {
                "description": 'The next page, as `<URL>; rel="next"`; absent on the last.',
                "schema": {"type": "string"},
            }
        },
    }
}


def encode(kind: str, *position: str | int) -> str:
    """The cursor for a page of list ``kind`` that starts after ``position``."""
    text = json.dumps([kind, *position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The position a cursor of list ``kind`` holds (values of ``types``), or None without
    one; a 404 for anything else.

    Not a 422: whether a cursor is one the list gave no schema can say, so it is treated
    as what it is, the name of a page, and a page the list never had is not found (as a
    session id no store can hold is).
    """
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found = json.loads(raw)
    except (binascii.Error, ValueError):
        found = None
    if (
        not isinstance(found, list)
        or found[:1] != [kind]
        or len(found) != len(types) + 1
        # bool is an int to Python, but never a position.
        or not all(type(v) is t for v, t in zip(found[1:], types, strict=True))
    ):
        raise not_found("no such page: the cursor is not one this list gave")
    return tuple(found[1:])


def page(
    items: Sequence[T],
    limit: int,
    request: Request,
    response: Response,
    kind: str,
    position: Callable[[T], tuple[str | int, ...]],
) -> list[T]:
    """The first ``limit`` of ``items`` (read as ``limit + 1``, to know if more follow);
    if more do, ``Link`` names the next page, which starts after the last one kept."""
    kept = list(items[:limit])
    if len(items) > limit:
        cursor = encode(kind, *position(kept[-1]))
        query = dict(request.query_params) | {"limit": str(limit), "cursor": cursor}
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return kept
