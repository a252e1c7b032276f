"""Errors under ``/v1`` in OpenAI's shape, so OpenAI clients show them properly.

The API answers every error as ``{"error": {"code", "message"}}`` in one place
(``errors.py``, and the body limit before any route). Under ``/v1`` this middleware
rewrites that answer into OpenAI's ``{"error": {"message", "type", "param", "code"}}``,
so every error there (a bad key, an unknown model, a body too large, the rate limit)
takes the same path as under ``/api`` and differs only in its shape.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/v1"

# OpenAI's own codes for the errors its clients know by name.
_CODES = {
    "unauthorized": "invalid_api_key",
    "rate_limited": "rate_limit_exceeded",
    "too_large": "request_too_large",
}


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error(status: int, code: str, message: str) -> dict[str, Any]:
    """An error body in OpenAI's shape."""
    return {
        "error": {
            "message": message,
            "type": error_type(status),
            "param": None,
            "code": _CODES.get(code, code),
        }
    }


class OpenAIErrors:
    """Rewrite the JSON error answers of ``/v1`` routes into OpenAI's error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                is_json = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and is_json:
                    start = message  # held until the whole body is in
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_rewritten(start, b"".join(chunks), send)

        await self.app(scope, receive, rewrite)

    async def _send_rewritten(self, start: Message, body: bytes, send: Send) -> None:
        status = int(start["status"])
        try:
            error = json.loads(body)["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "error", body.decode("utf-8", "replace")
        # OpenAI answers a malformed request with 400; its clients expect that.
        if status == 422:
            status = 400
        payload = json.dumps(openai_error(status, code, message)).encode()
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
