"""After a reply the embedded model reads the start of the session's next prompt.

llama.cpp is replaced by a fake that records what it read, position by position; the
end-to-end check with the real model is in test_model_e2e.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.memory.context import RECALLED, Memory, store_recall
from memchat.models.next_prompt import next_messages, read_ahead
from memchat.models.prompt_state import current_turn_only, prompt_session
from memchat.store import Store

from .helpers import reply, user_message


class FakeLlama:
    """What read_ahead touches of a ``Llama``: its token record, its reads, its logits' state."""

    def __init__(self, tokens: list[int]) -> None:
        self.input_ids = np.zeros(256, dtype=np.intc)
        self.input_ids[: len(tokens)] = tokens
        self.n_tokens = len(tokens)
        self.reads: list[list[int]] = []
        self._requires_eval = False

    def eval(self, tokens: list[int]) -> None:
        self.reads.append(list(tokens))
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self._requires_eval = False

    def held(self) -> list[int]:
        return [int(t) for t in self.input_ids[: self.n_tokens]]


def test_the_next_prompt_drops_this_turns_system_messages_and_ends_with_the_reply() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Earlier words"},
        {"role": "assistant", "content": "Earlier reply"},
        {"role": "system", "content": "Recalled: day 3"},
        {"role": "user", "content": "When was it?"},
    ]
    # A user message with the same text is the user's, and stays.
    said = [*messages, {"role": "user", "content": "Recalled: day 3"}]
    assert next_messages(said, "On day 3.", {"Recalled: day 3"}) == [
        messages[0],
        messages[1],
        messages[2],
        messages[4],
        {"role": "user", "content": "Recalled: day 3"},
        {"role": "assistant", "content": "On day 3."},
    ]
    assert next_messages(messages, "On day 3.", set())[3] == messages[3]


def test_read_ahead_keeps_the_shared_prefix_and_reads_only_the_rest() -> None:
    llama = FakeLlama([1, 2, 3, 40, 41, 5, 6])  # this turn: 40, 41 were its excerpts
    assert read_ahead(llama, [1, 2, 3, 5, 6, 7]) == 3  # type: ignore[arg-type]
    assert llama.reads == [[5, 6, 7]]
    assert llama.held() == [1, 2, 3, 5, 6, 7]
    # The same again reads nothing.
    assert read_ahead(llama, [1, 2, 3, 5, 6, 7]) == 0  # type: ignore[arg-type]
    assert llama.reads == [[5, 6, 7]]


def test_read_ahead_of_a_shorter_prefix_asks_for_a_read_before_sampling() -> None:
    llama = FakeLlama([1, 2, 3, 4])
    assert read_ahead(llama, [1, 2]) == 0  # type: ignore[arg-type]
    assert llama.held() == [1, 2]
    # The logits held are the last token's of the longer prompt, not of this prefix.
    assert llama._requires_eval


class RecordingModel(ScriptedModel):
    """A scripted model that notes which system messages it was told are this turn's only."""

    def __init__(self, steps: list[Any]) -> None:
        super().__init__(steps)
        self.turn_only: list[frozenset[str]] = []

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        self.turn_only.append(current_turn_only())
        return await super().get_response(*args, **kwargs)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        self.turn_only.append(current_turn_only())
        return super().stream_response(*args, **kwargs)


async def test_a_chat_tells_the_model_which_messages_are_this_turns_only(store: Store) -> None:
    """The recalled excerpts, and nothing else, are marked: the model is given them after
    the recent turns, right before the new message."""
    older = store.ensure_session("sara", "older")
    for n in range(200):  # too much to be shown whole: recall picks excerpts
        store.commit_turn(older, [user_message(f"the lighthouse keeper said thing {n} " * 3)])
    model = RecordingModel([reply("Noted."), reply("Thing 7.")])
    memory = Memory(store, 1536, recall=store_recall(store))
    chat = Chat(Agent(name="a", instructions="Be brief.", model=model), memory=memory)
    session = store.session("sara", "now")
    await chat.run_turn(session, "hello")
    result = await chat.run_turn(session, "what did the lighthouse keeper say, thing 7?")
    assert result.context is not None and model.last_call is not None
    recalled = {part.name: part.text for part in result.context.parts}[RECALLED]
    assert model.turn_only[-1] == {recalled}
    given = [(item.get("role"), item.get("content")) for item in model.last_call.input]
    # The recent turn, then the excerpts, then the message: what changes every turn is last.
    assert [role for role, _ in given[-4:]] == ["user", "assistant", "system", "user"]
    assert given[-4][1] == "hello" and "Noted." in str(given[-3][1])
    assert given[-2:] == [
        ("system", recalled),
        ("user", "what did the lighthouse keeper say, thing 7?"),
    ]
    # Outside a chat's turn nothing is marked.
    with prompt_session("sara", "now"):
        assert current_turn_only() == frozenset()
    assert current_turn_only() == frozenset()
