"""The embedded model's voice guard: its reply starts out speaking to the user, not as them.

A 0.5B model told about the user tends to answer a question about them with the user's own
words ("What is my job?" -> "I am a nurse ...", "Do I have any pets?" -> "Yes, I do have a
cat"), and now and then repeats the reminder it was given ("The user is asking: ...").
The reminder (``resolve.LOCAL_REMINDER``) makes that rarer; this makes it impossible in the
reply's first sentence. When the user's message speaks of themselves ("I", "my", "me"),
while that sentence is being written the sampler may not pick "I", "my", "mine" or
"myself" (the user's life told as the model's own), nor "user" after an opening "The" (the
model talking about the user, or quoting its reminder, instead of answering). So: "You are
a nurse ...", "Yes, you have two cats ...", "You haven't told me your birthday."

A greeting or a "Yes," / "No." before it is not the first sentence. After it (a ".", "!",
"?", ":" or a new line) the reply is free: a cover letter or a story in the first person
comes out as asked from its second sentence on. Measured with ``bench/first_person.py``
(bench/README.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .messages import ChatMessage

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["BANNED", "voice_guard"]

# Added to a banned token's logit: far below anything a model gives (-inf breaks sampling
# when every candidate is banned, which this cannot be: "You" stays).
BANNED = -100.0
Scores = Any  # llama_cpp's numpy float32 array of the vocabulary's logits, by token id
Processor = Callable[[Any, Scores], Scores]

_ABOUT_THEMSELVES = re.compile(r"\b(?:I|I'm|my|me|mine|myself)\b", re.IGNORECASE)
_FIRST_PERSON = ("I", " I", "my", " my", "My", " My", "mine", " mine", " myself", " Myself")
_USER = (" user", " users", " User")
# What may come before the first sentence: "Yes," "Hello!" and the like.
_OPENING = re.compile(
    r"\s*(?:(?:Yes|No|Sure|Well|Okay|OK|Oh|Ah|Hello|Hi|Hey)(?: there)?[,!.]?\s*)?"
)
_SENTENCE_END = re.compile(r"[.!?:\n]")


def voice_guard(llama: Llama, messages: Sequence[ChatMessage]) -> Processor | None:
    """A llama.cpp logits processor for one reply to ``messages``, or None when the user's
    last message does not speak of themselves."""
    asked = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if not _ABOUT_THEMSELVES.search(asked):
        return None
    first_person = _single_tokens(llama, _FIRST_PERSON)
    user = _single_tokens(llama, _USER)
    start: list[int] = []
    done = [False]

    def guard(input_ids: Any, scores: Scores) -> Scores:
        if done[0]:
            return scores
        if not start:
            start.append(len(input_ids))  # the first call sees the prompt only
        reply = llama.detokenize(list(input_ids[start[0] :])).decode("utf-8", "ignore")
        said = reply[len(_OPENING.match(reply)[0]) :]  # type: ignore[index]
        if _SENTENCE_END.search(said):
            done[0] = True
            return scores
        scores[first_person] += BANNED
        if said.strip() == "The":
            scores[user] += BANNED
        return scores

    return guard


def _single_tokens(llama: Llama, words: Sequence[str]) -> list[int]:
    """The token ids of those ``words`` the vocabulary holds as one token."""
    ids: set[int] = set()
    for word in words:
        tokens = llama.tokenize(word.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return sorted(ids)
