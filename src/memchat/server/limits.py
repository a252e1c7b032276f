"""Caps on request bodies, their size and the time to send them, before any route sees them
(but for the few routes that read a large body themselves, ``uploads.py``)."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

DEFAULT_MAX_BODY = 1024 * 1024


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a JSON 413, and bodies not sent
    within ``timeout`` seconds with a 408.

    The body is read here in full (it is small by construction) and replayed to the app,
    so a chunked upload without Content-Length is held to the same limit. After the body,
    ``receive`` passes through, so routes still hear the client disconnect. Requests to
    the ``streamed`` paths pass untouched: their routes read the body as it comes.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY,
        timeout: float | None = None,
        streamed: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streamed:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        try:
            # A client trickling its body would otherwise hold a connection, and a slot of
            # MEMCHAT_MAX_CONNECTIONS, for as long as it likes.
            async with asyncio.timeout(self.timeout):
                body = await self._read_body(receive)
        except TimeoutError:
            await self._refuse(
                send, 408, "timeout", f"the request body took over {self.timeout:g} s"
            )
            return
        if body is None:
            # The client left before sending its body: nothing to answer.
            return
        if len(body) > self.max_bytes:
            await self._too_large(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The body, or None if the client left; reading stops once it is over the limit."""
        chunks: list[bytes] = []
        size = 0
        while size <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await self._refuse(
            send, 413, "too_large", f"the request body is over {self.max_bytes:,} bytes"
        )

    async def _refuse(self, send: Send, status: int, code: str, message: str) -> None:
        payload = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
