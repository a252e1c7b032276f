"""What requests may carry beyond their schemas: known query parameters, storable text.

``?limt=5`` silently ignored would return 20 results and hide the typo; the spec says
which parameters each operation takes, and the server holds callers to it.
"""

from __future__ import annotations

from fastapi import Request

from .errors import ApiError
from .spec import query_parameters


async def known_query_only(request: Request) -> None:
    """Raise a 422 if the query string has a parameter the operation does not document."""
    if not request.query_params:
        return
    unknown = sorted(set(request.query_params) - query_parameters(request))
    if unknown:
        raise ApiError(422, "invalid_request", f"unknown query parameter(s): {', '.join(unknown)}")


def storable(field: str, text: str) -> str:
    """Return ``text``, or raise a 400 if it holds a NUL character.

    PostgreSQL cannot store NUL in text; SQLite can. Refusing it on every backend keeps
    the API's answers the same whichever store is behind it.
    """
    if "\x00" in text:
        raise ApiError(400, "bad_request", f"the {field} contains a NUL character")
    return text
