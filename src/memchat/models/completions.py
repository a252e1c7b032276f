"""Chat completions from an OpenAI-compatible server, refusing answers that were cut off.

A chat completions stream says it is finished with a ``finish_reason``. The SDK insists
on one only from OpenAI's own endpoint; from any other server a stream that simply stops
(a proxy's timeout, a crashed server behind a proxy) reads as a finished answer, and half
a reply would be stored as a whole turn. :class:`ChatCompletionsModel` insists everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import OpenAIChatCompletionsModel
from openai import AsyncStream
from openai.types.chat import ChatCompletionChunk

from ..errors import IncompleteAnswer


class ChatCompletionsModel(OpenAIChatCompletionsModel):
    """The SDK's chat completions model, raising IncompleteAnswer for an unfinished stream."""

    # Overrides the SDK's private request method (the SDK is pinned <0.25): the stream it
    # returns is the one place where a finish_reason can still be seen.
    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        answer = await super()._fetch_response(*args, **kwargs)
        if isinstance(answer, tuple):
            response, stream = answer
            return response, CheckedStream(stream)
        return answer


class CheckedStream:
    """A stream of chunks that raises IncompleteAnswer if it ends before a finish_reason."""

    def __init__(self, stream: AsyncStream[ChatCompletionChunk]) -> None:
        self._stream = stream
        # The SDK reads the request id from the HTTP response's headers.
        self.response = stream.response

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        chunks = 0
        finished = False
        async for chunk in self._stream:
            chunks += 1
            finished = finished or any(c.finish_reason is not None for c in chunk.choices)
            yield chunk
        if finished:
            return
        if chunks == 0:
            # A body with no events at all: empty, or not an event stream (an HTML page).
            kind = self.response.headers.get("content-type", "no content type")
            raise IncompleteAnswer(
                f"the model server's response held no answer ({kind}); nothing was saved, try again"
            )
        raise IncompleteAnswer(
            "the model's answer was cut off: its stream ended before a finish_reason;"
            " nothing was saved, try again"
        )

    async def close(self) -> None:
        """Close the HTTP response (the SDK closes the stream when it is done with it)."""
        await self._stream.close()
