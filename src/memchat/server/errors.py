"""Every error the API returns, in one place: a status code and a JSON body, no traceback.

Library errors (``MemchatError`` and its subclasses) become 4xx/5xx answers by kind;
request validation errors become 422; anything else is a bug, logged here with its
traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    BranchNotFound,
    ConfigError,
    InputTooLarge,
    InvalidName,
    LastAdmin,
    MemchatError,
    ModelCallFailed,
    ProjectNotFound,
    QuotaExceeded,
    SessionChanged,
    SessionExists,
    SessionNotFound,
    StoreError,
    TurnError,
    TurnNotFound,
    UserNotFound,
)
from .schemas import ErrorBody
from .spec import allowed_methods

log = logging.getLogger(__name__)

# Checked in order, so subclasses come before their bases.
_STATUS: list[tuple[type[MemchatError], int]] = [
    (UserNotFound, 404),
    (SessionNotFound, 404),
    (TurnNotFound, 404),
    (BranchNotFound, 404),
    (ProjectNotFound, 404),
    (SessionExists, 409),
    (SessionChanged, 409),
    (TurnError, 409),
    (LastAdmin, 409),
    (QuotaExceeded, 409),
    (InvalidName, 422),
    (InputTooLarge, 413),
    (ModelCallFailed, 502),
    (ConfigError, 503),
    (StoreError, 503),
]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
}


class ApiError(MemchatError):
    """An error the API answers with a given status and code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


def not_found(what: str) -> ApiError:
    """A 404 for something the caller does not have (or may not know exists)."""
    return ApiError(404, "not_found", what)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON of an error response."""
    return ErrorBody.model_validate({"error": {"code": code, "message": message}}).model_dump()


def status_of(exc: MemchatError) -> tuple[int, str]:
    """The HTTP status and error code of a library error."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 400, code if code != "memchat_error" else "bad_request"


# Errors whose messages are for the operator alone: a store error names the database file
# or the PostgreSQL server (host, port, database), a configuration error the settings.
# Callers get a generic message; the server's log keeps the whole one.
_PRIVATE: list[tuple[type[MemchatError], str]] = [
    (StoreError, "the database cannot be used right now; try again later"),
    (ConfigError, "the server is not configured correctly"),
]


def public_error(exc: MemchatError, where: str) -> tuple[int, str, str]:
    """The status, code and message an API caller gets for ``exc``.

    A server error (5xx) is logged with its whole message and ``where`` it happened.
    """
    status, code = status_of(exc)
    if status >= 500:
        log.warning("%s failed: %s", where, exc)
    message = next((text for kind, text in _PRIVATE if isinstance(exc, kind)), str(exc))
    return status, code, message


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer in the API's one JSON shape."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _memchat_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemchatError)
    status, code, message = public_error(exc, f"{request.method} {request.url.path}")
    headers = exc.headers if isinstance(exc, ApiError) else None
    return error_response(status, code, message, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette's Allow names only the first route of the path, and one path here may
        # have several (GET and POST /api/sessions): the spec knows them all.
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(exc.status_code, code, message, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Name each bad field and why, but do not echo the input: it may be huge or private.
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug: the traceback goes to the server's log, never to the client.
    log.error("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the API's JSON error shape."""
    app.add_exception_handler(MemchatError, _memchat_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
