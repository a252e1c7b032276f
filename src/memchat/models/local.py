"""An Agents SDK ``Model`` that runs a GGUF chat model in-process through llama.cpp.

This is memchat's offline default. It speaks plain chat only: tools, handoffs and structured
output are not offered to the model, so an agent run on it never calls a tool. One
``llama_cpp.Llama`` is loaded per model file and process and shared by every ``LocalModel``;
llama.cpp keeps the KV cache of the last prompt, so the next turn of the same chat only has
to evaluate the new messages. Turns of different chats interleaved on one process evict each
other's cache and pay for the whole prompt.

``llama_cpp`` is imported lazily, so this module imports without the ``local`` extra.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.tracing import generation_span
from agents.usage import Usage
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
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from ..errors import MemchatError

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

DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 512
# Low but not zero: a 0.5B model loops on greedy decoding, and chat answers should be stable.
DEFAULT_TEMPERATURE = 0.2
INSTALL_HINT = "pip install 'memchat[local]'"
# Sampling knobs beyond ModelSettings that may be passed through ModelSettings.extra_args.
_EXTRA_SAMPLING_ARGS = frozenset({"seed", "top_k", "min_p", "repeat_penalty"})

ChatMessage = dict[str, str]


class LocalModelError(MemchatError):
    """The embedded model cannot run this request."""


class LocalModelUnavailable(LocalModelError):
    """llama-cpp-python is not installed."""


class PromptTooLong(LocalModelError):
    """The conversation does not fit the model's context window."""


@dataclass
class _Loaded:
    """One loaded model and the lock that serialises generation on it."""

    llama: Llama
    # A Llama holds one KV cache and one sampling state, so two generations at once would
    # corrupt each other; tokenising only reads the vocabulary and needs no lock.
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: dict[tuple[str, int, int], _Loaded] = {}
_LOADING = threading.Lock()


def load_llama(path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int = 2) -> Llama:
    """Return the process-wide ``Llama`` for ``path``, loading it on first use."""
    return _load(path, n_ctx, n_threads).llama


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            try:
                from llama_cpp import Llama
                from llama_cpp import llama_cpp as capi
            except ImportError as exc:
                raise LocalModelUnavailable(
                    f"The local model needs llama-cpp-python; install it with: {INSTALL_HINT}"
                ) from exc
            if not path.is_file():
                raise LocalModelError(f"Model file {path} does not exist.")
            with _without_repacking(capi, when=cpu_has_amx()):
                llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            # Freed at exit while the interpreter still works: left to the garbage
            # collector at shutdown, llama.cpp's destructor fails on half-torn-down modules.
            atexit.register(llama.close)
            loaded = _LOADED[key] = _Loaded(llama)
        return loaded


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU offers Intel AMX (Sapphire Rapids and later); False where unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_int8" in line.split() for line in text.splitlines()
    )


@contextmanager
def _without_repacking(capi: Any, *, when: bool) -> Iterator[None]:
    """Load without llama.cpp's weight repacking ``when`` the CPU has AMX.

    llama.cpp repacks weights for AMX when the CPU has it, and its AMX matrix product then
    crashes the process on the first prompt on some machines with Q4_K_M models like ours
    (ggml-org/llama.cpp#20824, unfixed; seen here as SIGSEGV in ggml_backend_amx_mul_mat).
    ``Llama`` takes no option for it, so the default model parameters it starts from
    (``capi``: the ``llama_cpp.llama_cpp`` bindings) are swapped for the duration of the
    load (under ``_LOADING``, so no other load sees them).
    """
    if not when:
        yield
        return
    default = capi.llama_model_default_params

    def without_repacking() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    capi.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        capi.llama_model_default_params = default


def to_chat_messages(
    system_instructions: str | None, input: str | list[TResponseInputItem]
) -> list[ChatMessage]:
    """Convert SDK input items into chat-completion messages with plain string content.

    Only messages are kept: with no tools offered, tool calls and their outputs can only come
    from a history made with another model, and reasoning items mean nothing to this one.
    Images and files are dropped because the model reads text only.
    """
    messages: list[ChatMessage] = []
    if system_instructions:
        messages.append({"role": "system", "content": system_instructions})
    if isinstance(input, str):
        messages.append({"role": "user", "content": input})
        return messages
    for item in input:
        data = cast(Mapping[str, Any], item)
        if data.get("type", "message") != "message":
            continue
        role = data.get("role")
        if role == "developer":
            role = "system"
        if role in ("system", "user", "assistant"):
            messages.append({"role": role, "content": _content_text(data.get("content"))})
    return messages


def _content_text(content: object) -> str:
    """Flatten a message's content (a string or a list of parts) into text."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "refusal":
            texts.append(str(part.get("refusal", "")))
    return "\n".join(texts)


@dataclass
class _Counts:
    """Token counts of one generation, filled in once it ends."""

    input_tokens: int = 0
    output_tokens: int = 0


class LocalModel(Model):
    """A chat model run in-process by llama.cpp, for use as an Agents SDK ``Model``.

    ``ModelSettings.temperature``, ``top_p``, ``max_tokens``, ``frequency_penalty`` and
    ``presence_penalty`` override the defaults given here; ``extra_args`` may carry ``seed``,
    ``top_k``, ``min_p`` and ``repeat_penalty``. Tools, handoffs, server-side conversation
    state and stored prompts are ignored; structured output is refused.
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
    ) -> None:
        self.model_path = model_path
        self.name = name
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature

    def load(self) -> None:
        """Load the weights now rather than on the first request."""
        _load(self.model_path, self.n_ctx, self.n_threads)

    def count_tokens(self, text: str) -> int:
        """Return how many tokens ``text`` takes in this model's vocabulary."""
        llama = _load(self.model_path, self.n_ctx, self.n_threads).llama
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
        messages = to_chat_messages(system_instructions, input)
        params = self._sampling(model_settings)
        with generation_span(
            model=self.name, model_config=dict(params), disabled=tracing.is_disabled()
        ) as span:
            if tracing.include_data():
                span.span_data.input = messages
            counts = _Counts()
            events = _EventBuilder(self.name)
            yield events.created()
            yield events.item_added()
            yield events.part_added()
            async for delta in self._deltas(messages, params, counts):
                yield events.delta(delta)
            for event in events.finish(counts):
                yield event
            span.span_data.usage = {
                "input_tokens": counts.input_tokens,
                "output_tokens": counts.output_tokens,
            }
            if tracing.include_data():
                span.span_data.output = [{"role": "assistant", "content": events.text}]

    def _sampling(self, settings: ModelSettings) -> dict[str, Any]:
        """Merge per-call model settings over this model's defaults."""
        params: dict[str, Any] = {
            "temperature": self.temperature
            if settings.temperature is None
            else settings.temperature,
            "max_tokens": settings.max_tokens or self.max_tokens,
        }
        for name in ("top_p", "frequency_penalty", "presence_penalty"):
            value = getattr(settings, name)
            if value is not None:
                params[name] = value
        for name, value in (settings.extra_args or {}).items():
            if name in _EXTRA_SAMPLING_ARGS:
                params[name] = value
        return params

    async def _deltas(
        self, messages: list[ChatMessage], params: dict[str, Any], counts: _Counts
    ) -> AsyncIterator[str]:
        """Yield text pieces as llama.cpp produces them on a worker thread.

        Generation blocks for seconds, so it runs off the event loop; pieces cross back through
        a queue. Closing this iterator early stops generation at the next token.
        """
        loaded = await asyncio.to_thread(_load, self.model_path, self.n_ctx, self.n_threads)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def send(item: str | BaseException | None) -> None:
            # The loop may already be closed if the consumer went away; nobody is listening then.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                with loaded.lock:
                    for piece in _generate(loaded.llama, messages, params, counts, stop):
                        send(piece)
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


def _generate(
    llama: Llama,
    messages: list[ChatMessage],
    params: dict[str, Any],
    counts: _Counts,
    stop: threading.Event,
) -> Iterator[str]:
    """Run one chat completion on ``llama`` and yield its text pieces."""
    chunks = cast(
        Iterator[dict[str, Any]],
        # Our messages are the plain-string subset of llama_cpp's message TypedDicts.
        llama.create_chat_completion(messages=cast(Any, messages), stream=True, **params),
    )
    text: list[str] = []
    try:
        for chunk in chunks:
            if stop.is_set():
                break
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                text.append(piece)
                yield piece
    except ValueError as exc:
        # llama.cpp checks the prompt length only once the stream is first read.
        if "exceed context window" in str(exc):
            raise PromptTooLong(
                f"The conversation is longer than the model's context window ({llama.n_ctx()} "
                "tokens); start a new session or shorten the history."
            ) from exc
        raise
    finally:
        close: Callable[[], object] | None = getattr(chunks, "close", None)
        if close is not None:
            close()
    # llama.cpp streams no usage; its evaluated tokens are the prompt plus the reply, and
    # re-tokenising the reply gives its length to within a token.
    reply = "".join(text)
    counts.output_tokens = len(llama.tokenize(reply.encode("utf-8"), add_bos=False))
    counts.input_tokens = max(0, llama.n_tokens - counts.output_tokens)


class _EventBuilder:
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

    def _response(self, counts: _Counts | None) -> Response:
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

    def finish(self, counts: _Counts) -> list[TResponseStreamEvent]:
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
