"""The embedded model's saved prompt states: used only for their own prompt, never when bad.

llama.cpp itself is replaced by a fake that keeps its "KV cache" as a list of the tokens
it was computed from, so a wrong load shows up as the wrong tokens in the cache.
"""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memchat.models import prompt_state
from memchat.models.prompt_state import (
    MIN_GAIN,
    MIN_TOKENS,
    PromptStates,
    current_session,
    prompt_session,
)


class FakeLlama:
    """What PromptStates touches of a ``Llama``: its token record and its cache."""

    def __init__(self) -> None:
        self.input_ids = np.zeros(4096, dtype=np.intc)
        self.n_tokens = 0
        self.cache: list[int] = []  # the tokens the cache holds, position by position
        self._requires_eval = False

    def read(self, tokens: list[int]) -> None:
        """As llama.cpp reading ``tokens`` from nothing."""
        self.input_ids[: len(tokens)] = tokens
        self.n_tokens = len(tokens)
        self.cache = list(tokens)


@pytest.fixture(autouse=True)
def fake_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    def read_state(llama: FakeLlama) -> bytes:
        return json.dumps(llama.cache).encode()

    def write_state(llama: FakeLlama, state: bytes) -> bool:
        llama.cache = json.loads(state)
        return True

    def clear(llama: FakeLlama) -> None:
        llama.n_tokens = 0
        llama.cache = []

    def drop_after(llama: FakeLlama, position: int) -> None:
        del llama.cache[position:]

    monkeypatch.setattr(prompt_state, "_read_state", read_state)
    monkeypatch.setattr(prompt_state, "_write_state", write_state)
    monkeypatch.setattr(prompt_state, "_clear", clear)
    monkeypatch.setattr(prompt_state, "_drop_after", drop_after)


CHAT = list(range(1000, 1000 + 600))


def saved(tmp_path: Path, tokens: list[int] = CHAT, model: str = "m1") -> PromptStates:
    states = PromptStates(tmp_path, model)
    llama = FakeLlama()
    llama.read(tokens)
    states.save(llama, "sara", "s1")  # type: ignore[arg-type]
    return states


def restore(states: PromptStates, prompt: list[int], llama: FakeLlama | None = None) -> Any:
    llama = llama or FakeLlama()
    used = states.restore(llama, "sara", "s1", prompt)  # type: ignore[arg-type]
    return used, llama


def test_the_next_turn_loads_the_state_of_its_prefix(tmp_path: Path) -> None:
    states = saved(tmp_path)
    prompt = [*CHAT, 7, 8, 9]
    used, llama = restore(states, prompt)
    assert used == len(CHAT)
    assert llama.cache == CHAT
    assert llama.input_ids[: llama.n_tokens].tolist() == CHAT
    # Its logits are not this prefix's: llama.cpp must read a token before sampling.
    assert llama._requires_eval


def test_only_the_shared_prefix_is_kept_for_a_prompt_that_differs(tmp_path: Path) -> None:
    states = saved(tmp_path)
    prompt = [*CHAT[:400], 5, 6, *CHAT[402:]]
    used, llama = restore(states, prompt)
    assert used == 400
    assert llama.cache == CHAT[:400]
    assert llama.n_tokens == 400


def test_a_state_of_another_prompt_is_not_loaded(tmp_path: Path) -> None:
    states = saved(tmp_path)
    used, llama = restore(states, [1, *CHAT])
    assert used == 0
    assert llama.cache == []
    # Not deleted: it is still this session's, for its next turn.
    assert states.path("sara", "s1").exists()


def test_not_loaded_when_the_process_already_holds_as_much(tmp_path: Path) -> None:
    states = saved(tmp_path)
    llama = FakeLlama()
    llama.read(CHAT[: len(CHAT) - MIN_GAIN + 1])
    used, llama = restore(states, [*CHAT, 1], llama)
    assert used == 0
    assert len(llama.cache) == len(CHAT) - MIN_GAIN + 1


def test_a_short_prompt_is_not_saved(tmp_path: Path) -> None:
    states = saved(tmp_path, CHAT[: MIN_TOKENS - 1])
    assert not states.path("sara", "s1").exists()


def test_a_state_of_another_model_is_ignored_and_deleted(tmp_path: Path) -> None:
    saved(tmp_path, model="m1")
    states = PromptStates(tmp_path, "m2")
    used, llama = restore(states, [*CHAT, 1])
    assert (used, llama.cache) == (0, [])
    assert not states.path("sara", "s1").exists()


def corrupt_truncated(data: bytes) -> bytes:
    return data[:-10]


def corrupt_a_state_byte(data: bytes) -> bytes:
    return data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:]


def corrupt_a_token(data: bytes) -> bytes:
    # The tokens follow the header; change the last one (the prompt's too, so the prefix
    # check alone would not notice: the checksum must).
    (size,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + size])
    at = 8 + size + 4 * (header["tokens"] - 1)
    return data[:at] + struct.pack("<i", 5) + data[at + 4 :]


def corrupt_the_header(data: bytes) -> bytes:
    return data[:8] + b"{not json" + data[17:]


def corrupt_the_magic(data: bytes) -> bytes:
    return b"GGUF" + data[4:]


def longer(data: bytes) -> bytes:
    return data + b"extra"


@pytest.mark.parametrize(
    "damage",
    [
        corrupt_truncated,
        corrupt_a_state_byte,
        corrupt_a_token,
        corrupt_the_header,
        corrupt_the_magic,
        longer,
        lambda data: b"",
    ],
)
def test_a_damaged_file_is_ignored_and_deleted(tmp_path: Path, damage: Any) -> None:
    states = saved(tmp_path)
    path = states.path("sara", "s1")
    path.write_bytes(damage(path.read_bytes()))
    prompt = [*CHAT[:-1], 5, 6]
    used, llama = restore(states, prompt)
    assert (used, llama.cache, llama.n_tokens) == (0, [], 0)
    assert not path.exists()


def test_a_state_llama_cpp_refuses_leaves_an_empty_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = saved(tmp_path)

    def refuse(llama: FakeLlama, state: bytes) -> bool:
        llama.cache = [0, 0, 0]  # half written
        return False

    monkeypatch.setattr(prompt_state, "_write_state", refuse)
    used, llama = restore(states, [*CHAT, 1])
    assert (used, llama.cache, llama.n_tokens) == (0, [], 0)
    assert not states.path("sara", "s1").exists()


def test_sessions_and_users_have_their_own_files_without_their_names(tmp_path: Path) -> None:
    states = PromptStates(tmp_path, "m1")
    paths = {states.path(u, s) for u in ("sara", "ali") for s in ("s1", "s2")}
    assert len(paths) == 4
    assert not any("sara" in str(p) or "s1" in p.name for p in paths)


def test_only_its_owner_can_read_a_state(tmp_path: Path) -> None:
    states = saved(tmp_path / "states")
    path = states.path("sara", "s1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert states.directory.stat().st_mode & 0o777 == 0o700


def test_forget_a_session_or_a_user(tmp_path: Path) -> None:
    states = PromptStates(tmp_path, "m1")
    llama = FakeLlama()
    llama.read(CHAT)
    for user, session in (("sara", "s1"), ("sara", "s2"), ("ali", "s1")):
        states.save(llama, user, session)  # type: ignore[arg-type]
    states.forget("sara", "s1")
    assert not states.path("sara", "s1").exists()
    assert states.path("sara", "s2").exists()
    states.forget("sara")
    assert not states.path("sara", "s2").exists()
    assert not states.path("sara", "s2").parent.exists()
    assert states.path("ali", "s1").exists()


def test_the_directory_keeps_to_its_size_dropping_the_least_recently_used(
    tmp_path: Path,
) -> None:
    llama = FakeLlama()
    llama.read(CHAT)
    one = len(json.dumps(CHAT)) + 4 * len(CHAT) + 200
    states = PromptStates(tmp_path, "m1", max_bytes=3 * one)
    for n in range(3):
        states.save(llama, "sara", f"s{n}")  # type: ignore[arg-type]
    # s0 was used since, so s1 is the least recently used when s3 comes.
    assert states.restore(FakeLlama(), "sara", "s0", [*CHAT, 1]) > 0  # type: ignore[arg-type]
    states.save(llama, "sara", "s3")  # type: ignore[arg-type]
    left = {n for n in range(4) if states.path("sara", f"s{n}").exists()}
    assert left == {0, 2, 3}
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.kv")) <= 3 * one
    assert not list(tmp_path.rglob("*.tmp"))


async def test_the_session_mark_reaches_tasks_started_inside() -> None:
    async def seen() -> tuple[str, str] | None:
        await asyncio.sleep(0)
        return current_session()

    with prompt_session("sara", "s1"):
        task = asyncio.create_task(seen())
    assert current_session() is None
    assert await task == ("sara", "s1")
