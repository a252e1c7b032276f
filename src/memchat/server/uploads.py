"""Request bodies too large to hold in memory (an uploaded export), written to a file as
they arrive, held to a size and a pace.

Every other body is read whole by ``limits.BodyLimit`` before its route runs; the paths
named in ``STREAMED`` pass it untouched and their routes read the body with
:func:`spool`. Those routes authenticate first: FastAPI reads no body for a route that
takes none, so a caller without a token is refused before a byte of it is read.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from fastapi import Request
from starlette.requests import ClientDisconnect

from .errors import ApiError

# The one route whose body is streamed (routes/imports.py).
IMPORT_PATH = "/api/import"
STREAMED = frozenset({IMPORT_PATH})


def too_large(max_bytes: int) -> ApiError:
    """The 413 of an upload over ``max_bytes``."""
    return ApiError(
        413, "too_large", f"the file is over {max_bytes:,} bytes, the most this server takes"
    )


async def spool(request: Request, out: BinaryIO, max_bytes: int, pause: float) -> int:
    """Write the request's body to ``out``; return its size.

    A 413 as soon as it is over ``max_bytes`` (at once if its Content-Length says so),
    without reading the rest; a 408 if the client sends nothing for ``pause`` seconds. A
    large upload may take minutes, so the pace is held, not the whole time.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    size = 0
    pieces = request.stream()
    try:
        while True:
            try:
                async with asyncio.timeout(pause):
                    piece = await anext(pieces)
            except StopAsyncIteration:
                return size
            except TimeoutError:
                raise ApiError(
                    408, "timeout", f"the request body stopped coming for {pause:g} s"
                ) from None
            size += len(piece)
            if size > max_bytes:
                raise too_large(max_bytes)
            # A write of a piece as it came off the socket (kilobytes) to a local file:
            # quick enough not to need a thread.
            out.write(piece)
    except ClientDisconnect:
        # Nobody hears the answer; without this the route would log a crash.
        raise ApiError(400, "bad_request", "the client left before the end of the body") from None
    finally:
        await pieces.aclose()
