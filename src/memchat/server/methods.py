"""HEAD answered wherever GET is, as the ``Allow`` header of a 405 says.

FastAPI's routes answer only the methods they name, so a HEAD to a GET route was a 405
whose ``Allow`` listed HEAD. :class:`HeadAsGet` answers it as the GET it asks about: the
same status and headers, no body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Run a HEAD request as a GET and send the response's headers without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                # The body's length stays in Content-Length, as RFC 9110 asks of HEAD.
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server's own scope (and its access log) keeps the method it got.
        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
