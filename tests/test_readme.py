"""The README's library examples run (with a scripted model in place of OpenAI)."""

from __future__ import annotations

import ast
import re
from functools import partial
from pathlib import Path

import agents
import pytest
from agents.testing import ScriptedModel

from memchat.store import Store

from .helpers import reply, system_notes, texts_of

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_memory_example_runs_and_remembers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library section's first example: memchat's memory on the SDK's own path."""
    example = next(block for block in python_blocks() if "memory_session(" in block)
    model = ScriptedModel([reply("Nice to meet you, Sara."), reply("Your name is Sara.")])
    monkeypatch.setattr(agents, "Agent", partial(agents.Agent, model=model))
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() == "Your name is Sara."
    assert model.last_call is not None
    assert model.last_call.system_instructions == "Be brief."
    assert texts_of(model.last_call.input) == [
        "My name is Sara",
        "Nice to meet you, Sara.",
        "What's my name?",
    ]
    assert "name: Sara" in system_notes(model.last_call.input)


def test_the_library_example_runs_and_remembers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = next(block for block in python_blocks() if "store.session(" in block)
    model = ScriptedModel([reply("Nice to meet you, Sara."), reply("Your name is Sara.")])
    # The example builds its Agent with the SDK's default (OpenAI) model; give it ours.
    monkeypatch.setattr(agents, "Agent", partial(agents.Agent, model=model))
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() == "Your name is Sara."
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [
        "My name is Sara",
        "Nice to meet you, Sara.",
        "What's my name?",
    ]
    assert (tmp_path / "memchat.db").exists()


async def test_the_chat_example_runs_and_ends_each_stream_with_its_result(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``memchat.Chat`` example, given an agent and a session (its top-level awaits run
    as a coroutine)."""
    example = next(block for block in python_blocks() if "chat.stream_turn(" in block)
    model = ScriptedModel([reply("Hello Sara."), reply("Once upon a time.")])
    session = store.session("sara")
    agent = agents.Agent(name="a", model=model)
    namespace = {"agent": agent, "store": store, "session": session}
    code = compile(example, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    await eval(code, namespace)
    first, story, last = capsys.readouterr().out.splitlines()
    assert first == "Hello Sara. (turn 1; remembered name: Sara)"
    assert story == "Once upon a time."
    found = re.fullmatch(r"\(turn 2: (\d+) tokens of context\)", last)
    # The second turn's context holds the first turn and the fact it taught.
    assert found is not None and int(found[1]) > 20
    assert model.last_call is not None
    assert "- name: Sara" in system_notes(model.last_call.input)
    assert [turn.seq for turn in store.get_turns(session.info)] == [1, 2]
