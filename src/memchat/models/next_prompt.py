"""The start of a session's next prompt, read into the embedded model's cache after a reply.

llama.cpp reuses the cache of the longest prefix a new prompt shares with the tokens it
holds. After a reply it holds this turn's prompt and the reply, but the next turn's prompt
differs from it early: the messages shown for this turn's message alone (the excerpts
memory recalled for it, the reminder after it) are gone, so the next turn shares only
what came before them and reads this turn's message and reply again, with its own
excerpts. So once the reply is complete the model reads the next prompt's start instead
(this prompt without those messages, then the reply), and that is the cache the next
turn finds, in this process or, from the saved state, in a new one: it reads only what
is new to it.

Which system messages were for this turn only is told by the chat
(:func:`~memchat.models.prompt_state.prompt_session`); the prompt is formatted by the
model's own chat template, as llama-cpp-python formats the chat completion's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from .messages import ChatMessage

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["next_messages", "read_ahead", "read_next_prompt", "template_tokens"]

log = logging.getLogger(__name__)

# The chat format llama-cpp-python picks for a model whose GGUF file carries a chat
# template (ours does): the template is rendered as below. Other formats are left alone.
_TEMPLATE_FORMAT = "chat_template.default"


def next_messages(
    messages: Sequence[ChatMessage], reply: str, turn_only: Collection[str]
) -> list[ChatMessage]:
    """The messages the session's next prompt starts with: ``messages`` without the system
    messages whose text is in ``turn_only``, then ``reply``."""
    kept = [m for m in messages if not (m["role"] == "system" and m["content"] in turn_only)]
    return [*kept, {"role": "assistant", "content": reply}]


def template_tokens(llama: Llama, messages: Sequence[ChatMessage]) -> list[int] | None:
    """``messages`` as the tokens llama-cpp-python's chat completion would read for them
    (with no turn for the model to answer after them), or None where its chat format is
    not the model's own template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if llama.chat_format != _TEMPLATE_FORMAT or not template:
        return None
    model = cast(Any, llama)._model
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
        add_generation_prompt=False,
    )
    formatted = formatter(messages=cast(Any, list(messages)))
    return llama.tokenize(
        formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
    )


def read_ahead(llama: Llama, tokens: Sequence[int]) -> int:
    """Make ``llama``'s cache hold ``tokens``: keep the prefix it shares with them, read the
    rest. Returns how many tokens were read."""
    held = llama.input_ids[: llama.n_tokens].tolist()
    shared = 0
    for a, b in zip(held, tokens, strict=False):
        if a != b:
            break
        shared += 1
    if shared == len(tokens) == len(held):
        return 0
    # eval() drops the cache past n_tokens before it reads.
    llama.n_tokens = shared
    llama.eval(list(tokens[shared:]))
    if shared == len(tokens):
        # Nothing was read, so the logits are not those of the last token: generate()
        # must read one again before it samples.
        cast(Any, llama)._requires_eval = True
    return len(tokens) - shared


def read_next_prompt(llama: Llama, messages: Sequence[ChatMessage]) -> None:
    """Read ``messages`` (the next prompt's start) into ``llama``'s cache where its chat
    format allows; a failure costs the next turn time, not this one."""
    try:
        tokens = template_tokens(llama, messages)
        if tokens is not None and len(tokens) <= llama.n_ctx():
            read_ahead(llama, tokens)
    except Exception as exc:
        log.warning("could not read ahead the next turn's prompt: %s", exc)
