"""Server-sent events that stop the moment the client leaves.

A turn holds its session's lock while it streams, so a departed client must end its turn
at once. Starlette's ``StreamingResponse`` listens for the disconnect only under servers
of ASGI spec 2.3 or older (under 2.4 it waits for a write to fail, which a model that is
still thinking never makes), and if the disconnect lands while the generator waits at a
``yield``, it leaves the generator for garbage collection to close. :class:`EventStream`
listens under every server, cancels the stream at once, and always closes the generator
before it returns: an abandoned turn is rolled back, and its lock released, before the
next request can ask for it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


def event(name: str, data: Any) -> str:
    """One server-sent event; JSON data never spans lines, so one ``data:`` line holds it."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response over an async generator of events."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[str]) -> None:
        super().__init__(
            events,
            headers={
                "Cache-Control": "no-cache",
                # Proxies such as nginx would otherwise buffer the reply until it ends.
                "X-Accel-Buffering": "no",
            },
        )
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client is gone; the listener below says so too
                    finally:
                        group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            # Shielded: closing must finish even when the server itself is cancelling us.
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._events, "aclose", None)
                if aclose is not None:
                    await aclose()
