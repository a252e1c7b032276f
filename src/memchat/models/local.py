"""An Agents SDK ``Model`` that runs a GGUF chat model in-process through llama.cpp.

This is memchat's offline default. It speaks plain chat only: tools, handoffs and structured
output are not offered to the model, so an agent run on it never calls a tool. One
``llama_cpp.Llama`` is loaded per model file and process and shared by every ``LocalModel``;
llama.cpp keeps the KV cache of the last prompt, so the next turn of the same chat only has
to evaluate the new messages (after a chat's reply it reads the start of the next prompt
ahead, ``next_prompt.py``). Turns of different chats interleaved on one process evict each
other's cache and pay for the whole prompt.

``llama_cpp`` is imported lazily (``runtime.py``), so this module imports without the
``local`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.tracing import generation_span
from agents.usage import Usage
from openai.types.responses import Response, ResponseCompletedEvent
from openai.types.responses.response_prompt_param import ResponsePromptParam

from .events import Counts, EventBuilder
from .generation import PromptTooLong, generate, sampling
from .messages import ChatMessage, to_chat_messages, with_reminder
from .next_prompt import next_messages, read_next_prompt
from .prompt_state import MAX_BYTES, PromptStates, current_session, current_turn_only
from .runtime import DEFAULT_N_CTX, LocalModelError, LocalModelUnavailable, load_llama, load_model
from .voice import voice_guard

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_N_CTX",
    "DEFAULT_TEMPERATURE",
    "LocalModel",
    "LocalModelError",
    "LocalModelUnavailable",
    "PromptTooLong",
    "load_llama",
    "to_chat_messages",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 512
# Low but not zero: a 0.5B model loops on greedy decoding, and chat answers should be stable.
DEFAULT_TEMPERATURE = 0.2


class LocalModel(Model):
    """A chat model run in-process by llama.cpp, for use as an Agents SDK ``Model``.

    ``ModelSettings.temperature``, ``top_p``, ``max_tokens``, ``frequency_penalty`` and
    ``presence_penalty`` override the defaults given here; ``extra_args`` may carry ``seed``,
    ``top_k``, ``min_p`` and ``repeat_penalty``. Tools, handoffs, server-side conversation
    state and stored prompts are ignored; structured output is refused.

    A ``reminder`` is read right after the user's message, where a small model heeds it
    more than the system prompt hundreds of tokens back; with ``guard_voice`` a reply to a
    message about the user cannot open as if the model were the user (``voice.py``). With
    ``prompt_states`` (a
    directory), the prompt state of each turn made inside
    :func:`~memchat.models.prompt_state.prompt_session` is kept there, so the session's
    next turn in a new process need not read its whole context again.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        name: str = "local",
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = 2,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE,
        reminder: str | None = None,
        guard_voice: bool = False,
        prompt_states: Path | None = None,
        prompt_states_bytes: int = MAX_BYTES,
    ) -> None:
        self.model_path = model_path
        self.name = name
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.reminder = reminder
        self.guard_voice = guard_voice
        self.prompt_states_dir = prompt_states
        self.prompt_states_bytes = prompt_states_bytes
        self._states: PromptStates | None = None

    def prompt_states(self) -> PromptStates | None:
        """Where this model keeps each session's prompt state, if anywhere."""
        if self.prompt_states_dir is None:
            return None
        if self._states is None:
            self._states = PromptStates(
                self.prompt_states_dir, self._identity(), max_bytes=self.prompt_states_bytes
            )
        return self._states

    def _identity(self) -> str:
        """What a saved KV cache depends on: the weights, llama.cpp's version, the window."""
        from llama_cpp import __version__

        stat = self.model_path.stat()
        return (
            f"llama-cpp-python {__version__}, {self.model_path.name}, {stat.st_size} bytes,"
            f" modified {stat.st_mtime_ns}, n_ctx {self.n_ctx}"
        )

    def load(self) -> None:
        """Load the weights now rather than on the first request."""
        load_model(self.model_path, self.n_ctx, self.n_threads)

    def count_tokens(self, text: str) -> int:
        """Return how many tokens ``text`` takes in this model's vocabulary."""
        llama = load_model(self.model_path, self.n_ctx, self.n_threads).llama
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        """Generate a whole reply; see :meth:`stream_response` for the event stream."""
        final: Response | None = None
        async for event in self.stream_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        ):
            if isinstance(event, ResponseCompletedEvent):
                final = event.response
        if final is None or final.usage is None:
            raise LocalModelError("The local model ended without a completed response.")
        return ModelResponse(
            output=list(final.output),
            usage=Usage(
                requests=1,
                input_tokens=final.usage.input_tokens,
                output_tokens=final.usage.output_tokens,
                total_tokens=final.usage.total_tokens,
            ),
            response_id=None,
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Stream a reply as Responses events: created, item/part added, deltas, done, completed."""
        if output_schema is not None and not output_schema.is_plain_text():
            raise LocalModelError("The local model does not support structured output.")
        plain = to_chat_messages(system_instructions, input)
        messages = with_reminder(plain, self.reminder)
        params = sampling(model_settings, self.temperature, self.max_tokens)
        with generation_span(
            model=self.name, model_config=dict(params), disabled=tracing.is_disabled()
        ) as span:
            if tracing.include_data():
                span.span_data.input = messages
            counts = Counts()
            events = EventBuilder(self.name)
            yield events.created()
            yield events.item_added()
            yield events.part_added()
            async for delta in self._deltas(messages, params, counts, plain):
                yield events.delta(delta)
            for event in events.finish(counts):
                yield event
            span.span_data.usage = {
                "input_tokens": counts.input_tokens,
                "output_tokens": counts.output_tokens,
            }
            if tracing.include_data():
                span.span_data.output = [{"role": "assistant", "content": events.text}]

    async def _deltas(
        self,
        messages: list[ChatMessage],
        params: dict[str, Any],
        counts: Counts,
        plain: list[ChatMessage],
    ) -> AsyncIterator[str]:
        """Yield text pieces as llama.cpp produces them on a worker thread.

        Generation blocks for seconds, so it runs off the event loop; pieces cross back through
        a queue. Closing this iterator early stops generation at the next token. A turn of a
        chat's session (``prompt_session``) that ends whole then reads the start of the
        session's next prompt (``plain``, the messages without the reminder, less those of
        this turn only, then the reply: ``next_prompt.py``) and keeps that state.
        """
        loaded = await asyncio.to_thread(load_model, self.model_path, self.n_ctx, self.n_threads)
        session = current_session()
        states = self.prompt_states() if session is not None else None
        turn_only = current_turn_only()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def send(item: str | BaseException | None) -> None:
            # The loop may already be closed if the consumer went away; nobody is listening then.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def restore(prompt: Sequence[int]) -> None:
            assert states is not None and session is not None
            states.restore(loaded.llama, *session, prompt)

        def produce() -> None:
            try:
                with loaded.lock:
                    pieces = []
                    guard = voice_guard(loaded.llama, messages) if self.guard_voice else None
                    run = params if guard is None else {**params, "logits_processor": [guard]}
                    with loaded.before_prompt(restore if states is not None else None):
                        for piece in generate(loaded.llama, messages, run, counts, stop):
                            pieces.append(piece)
                            send(piece)
                    if session is not None and not stop.is_set():
                        ahead = next_messages(plain, "".join(pieces), turn_only)
                        read_next_prompt(loaded.llama, ahead)
                    if states is not None and session is not None and not stop.is_set():
                        _save(states, loaded.llama, session)
            except BaseException as exc:
                send(exc)
            else:
                send(None)

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            # Waiting keeps the lock and the counts consistent for whoever runs next.
            await asyncio.shield(worker)


def _save(states: PromptStates, llama: Llama, session: tuple[str, str]) -> None:
    """Keep the session's prompt state; a full disk costs the next process time, not a turn."""
    try:
        states.save(llama, *session)
    except OSError as exc:
        log.warning("could not keep the prompt state of this session: %s", exc)
