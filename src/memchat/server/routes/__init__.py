"""The API's routes, one module per resource, all under ``/api``."""

from __future__ import annotations

from typing import Any

from ..schemas import ErrorBody


def errors(*statuses: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error responses, all in the one JSON error shape.

    ``by_reference`` spells the JSON content out, for a route whose own media type is not
    JSON (FastAPI would file its error schema under that media type).
    """
    described = {
        400: "The request cannot be carried out.",
        401: "No valid API token.",
        403: "The caller lacks the admin role.",
        404: "The caller has no such resource.",
        408: "The request body was not sent in time (MEMCHAT_READ_TIMEOUT).",
        409: "It already exists, conflicts with the current state, or the caller has as many"
        " sessions or facts as allowed (MEMCHAT_MAX_SESSIONS, MEMCHAT_MAX_FACTS).",
        413: "The request or the message is too large.",
        415: "The body is of a kind this operation does not take.",
        422: "The request is malformed.",
        429: "Too many messages for the rate limit (MEMCHAT_RATE_LIMIT); see Retry-After.",
    }
    # Any request may lack a token (401), have an unparsable, late or oversized body (400,
    # 408, 413) or malformed parameters (422).
    json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {
        status: (
            {"description": described[status], "content": json_error}
            if by_reference
            else {"model": ErrorBody, "description": described[status]}
        )
        for status in sorted({400, 401, 408, 413, 422, *statuses})
    }
