"""One chat completion on a loaded llama.cpp model, as the text pieces it streams, with
the tokens it read and wrote counted (``LocalModel`` runs it on a worker thread), and the
sampling parameters it is run with."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from .events import Counts
from .messages import ChatMessage
from .runtime import LocalModelError

if TYPE_CHECKING:
    from agents.model_settings import ModelSettings
    from llama_cpp import Llama

# Sampling knobs beyond ModelSettings that may be passed through ModelSettings.extra_args.
EXTRA_SAMPLING_ARGS = frozenset({"seed", "top_k", "min_p", "repeat_penalty"})


class PromptTooLong(LocalModelError):
    """The conversation does not fit the model's context window."""


def sampling(settings: ModelSettings, temperature: float, max_tokens: int) -> dict[str, Any]:
    """llama.cpp's sampling parameters: per-call model settings over the model's defaults."""
    params: dict[str, Any] = {
        "temperature": temperature if settings.temperature is None else settings.temperature,
        "max_tokens": settings.max_tokens or max_tokens,
    }
    for name in ("top_p", "frequency_penalty", "presence_penalty"):
        value = getattr(settings, name)
        if value is not None:
            params[name] = value
    for name, value in (settings.extra_args or {}).items():
        if name in EXTRA_SAMPLING_ARGS:
            params[name] = value
    return params


def generate(
    llama: Llama,
    messages: list[ChatMessage],
    params: dict[str, Any],
    counts: Counts,
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
