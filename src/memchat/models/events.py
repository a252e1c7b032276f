"""The Responses stream events of one single-message reply, as an SDK ``Model`` streams them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from agents.items import TResponseStreamEvent
from agents.models.fake_id import FAKE_RESPONSES_ID
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

__all__ = ["Counts", "EventBuilder"]


@dataclass
class Counts:
    """Token counts of one generation, filled in once it ends."""

    input_tokens: int = 0
    output_tokens: int = 0


class EventBuilder:
    """Builds the Responses stream events of one single-message reply, numbering them."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text = ""
        self._sequence = 0

    def _next(self) -> int:
        number = self._sequence
        self._sequence += 1
        return number

    def _message(self, status: Literal["in_progress", "completed"]) -> ResponseOutputMessage:
        content = [] if status == "in_progress" else [self._part(self.text)]
        return ResponseOutputMessage(
            id=FAKE_RESPONSES_ID,
            type="message",
            role="assistant",
            status=status,
            content=cast(Any, content),
        )

    @staticmethod
    def _part(text: str) -> ResponseOutputText:
        return ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])

    def _response(self, counts: Counts | None) -> Response:
        usage = None
        if counts is not None:
            usage = ResponseUsage(
                input_tokens=counts.input_tokens,
                output_tokens=counts.output_tokens,
                total_tokens=counts.input_tokens + counts.output_tokens,
                input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
                output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
            )
        return Response(
            id=FAKE_RESPONSES_ID,
            created_at=0,
            model=self.model,
            object="response",
            output=[self._message("completed")] if counts is not None else [],
            tool_choice="none",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status="completed" if counts is not None else "in_progress",
            usage=usage,
        )

    def created(self) -> TResponseStreamEvent:
        return ResponseCreatedEvent(
            type="response.created", response=self._response(None), sequence_number=self._next()
        )

    def item_added(self) -> TResponseStreamEvent:
        return ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=self._message("in_progress"),
            output_index=0,
            sequence_number=self._next(),
        )

    def part_added(self) -> TResponseStreamEvent:
        return ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=FAKE_RESPONSES_ID,
            output_index=0,
            content_index=0,
            part=self._part(""),
            sequence_number=self._next(),
        )

    def delta(self, text: str) -> TResponseStreamEvent:
        self.text += text
        return ResponseTextDeltaEvent(
            type="response.output_text.delta",
            item_id=FAKE_RESPONSES_ID,
            output_index=0,
            content_index=0,
            delta=text,
            logprobs=[],
            sequence_number=self._next(),
        )

    def finish(self, counts: Counts) -> list[TResponseStreamEvent]:
        """Return the done events and the completed response, in order."""
        return [
            ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=FAKE_RESPONSES_ID,
                output_index=0,
                content_index=0,
                text=self.text,
                logprobs=[],
                sequence_number=self._next(),
            ),
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=FAKE_RESPONSES_ID,
                output_index=0,
                content_index=0,
                part=self._part(self.text),
                sequence_number=self._next(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=self._message("completed"),
                output_index=0,
                sequence_number=self._next(),
            ),
            ResponseCompletedEvent(
                type="response.completed",
                response=self._response(counts),
                sequence_number=self._next(),
            ),
        ]
