"""Which model the configuration selects."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel

from memchat.chat import Chat
from memchat.config import load_settings
from memchat.errors import ConfigError, ModelNotConfigured
from memchat.memory.context import SLOW_PROMPT_RECALL_SHARE
from memchat.memory.summarize import ExtractiveSummarizer, ModelSummarizer
from memchat.memory.tokens import estimate_tokens
from memchat.models import resolve_model
from memchat.models.local import LocalModel
from memchat.models.messages import REMINDER_QUOTE_CHARS, to_chat_messages
from memchat.models.resolve import LOCAL_REMINDER
from memchat.models.runtime import _without_repacking, cpu_has_amx
from memchat.store import SQLiteStore


def choose(**env: str):
    return resolve_model(load_settings(env={"MEMCHAT_HOME": "/tmp/memchat-test-home", **env}))


def test_openai_compatible_server() -> None:
    choice = choose(MEMCHAT_BASE_URL="http://localhost:11434/v1", MEMCHAT_MODEL="llama3.2")
    assert isinstance(choice.model, OpenAIChatCompletionsModel)
    assert choice.description == "llama3.2 via http://localhost:11434/v1"


def test_server_without_a_model_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="MEMCHAT_MODEL is not"):
        choose(MEMCHAT_BASE_URL="http://localhost:11434/v1")


def test_openai_key_uses_the_responses_api() -> None:
    choice = choose(OPENAI_API_KEY="sk-test")
    assert isinstance(choice.model, OpenAIResponsesModel)
    assert choice.name == "gpt-4.1-mini" and choice.supports_tools


@pytest.mark.skipif(
    importlib.util.find_spec("litellm") is not None, reason="LiteLLM is installed here"
)
def test_litellm_without_the_extra_says_how() -> None:
    with pytest.raises(ConfigError, match=r"memchat\[litellm\]"):
        choose(MEMCHAT_MODEL="litellm/anthropic/claude-3-5-haiku-latest")


def test_local_model_is_chosen_by_name_and_has_no_tools() -> None:
    choice = choose(OPENAI_API_KEY="sk-test", MEMCHAT_MODEL="local")
    assert isinstance(choice.model, LocalModel)
    assert not choice.supports_tools and "(no tools)" in choice.description
    assert choice.context_tokens < 4096


def test_memory_counts_with_the_models_own_tokenizer_where_it_has_one() -> None:
    """The embedded model's tokenizer counts its budget; other models get the estimate."""
    env = {"MEMCHAT_HOME": "/tmp/memchat-test-home"}
    with SQLiteStore(":memory:") as store:
        local = resolve_model(load_settings(env={**env, "MEMCHAT_MODEL": "local"}))
        chat = Chat.from_settings(load_settings(env=env), local, store)
        assert chat.memory is not None and isinstance(local.model, LocalModel)
        # (behind a cache of the texts it has counted)
        assert getattr(chat.memory.count, "__wrapped__", None) == local.model.count_tokens
        assert chat.memory.budget == local.context_tokens == 1536
        # Its own summaries are not trusted (see ModelChoice.summarizes_well)...
        assert isinstance(chat.memory.summarizer, ExtractiveSummarizer)
        assert chat.memory.recall_k is None  # as many passages as the budget holds
        # ...but what it reads anew each turn stays small once a session is under way.
        assert chat.memory.steady_recall_share == SLOW_PROMPT_RECALL_SHARE
        # ...but another model named for summaries is.
        named = load_settings(env={**env, "MEMCHAT_SUMMARY_MODEL": "local"})
        summarizer = Chat.from_settings(named, local, store).memory.summarizer  # type: ignore[union-attr]
        assert isinstance(summarizer, ModelSummarizer)

        remote = resolve_model(load_settings(env={**env, "OPENAI_API_KEY": "sk-test"}))
        chat = Chat.from_settings(load_settings(env=env), remote, store)
        assert chat.memory is not None
        assert chat.memory.count is estimate_tokens and chat.memory.budget == 16_000
        assert isinstance(chat.memory.summarizer, ModelSummarizer)
        assert chat.memory.recall_k is None and chat.memory.steady_recall_share is None
        fewer = load_settings(env={**env, "MEMCHAT_RECALL_K": "3"})
        assert Chat.from_settings(fewer, remote, store).memory.recall_k == 3  # type: ignore[union-attr]

        budget = load_settings(env={**env, "MEMCHAT_CONTEXT_TOKENS": "900"})
        assert Chat.from_settings(budget, local, store).memory.budget == 900  # type: ignore[union-attr]


def test_the_embedded_model_keeps_prompt_states_in_the_data_dir_unless_encrypted() -> None:
    choice = choose(MEMCHAT_MODEL="local")
    assert isinstance(choice.model, LocalModel)
    assert choice.model.prompt_states_dir == Path("/tmp/memchat-test-home/prompt-states")
    key = "8UKFqPCHRgp8hztC57BFwK5F1iIoCnSiao1NEj_Za-U="
    sealed = choose(MEMCHAT_MODEL="local", MEMCHAT_ENCRYPTION_KEY=key)
    assert isinstance(sealed.model, LocalModel)
    assert sealed.model.prompt_states_dir is None and sealed.model.prompt_states() is None


def test_the_embedded_model_is_reminded_who_it_is_after_the_users_message() -> None:
    choice = choose(MEMCHAT_MODEL="local")
    assert isinstance(choice.model, LocalModel)
    assert choice.model.reminder == LOCAL_REMINDER and '"you"' in LOCAL_REMINDER
    assert choice.model.guard_voice  # models/voice.py, tested on the model itself
    items = [
        {"role": "system", "content": "What you know about the user:\n- name: Sara"},
        {"role": "user", "content": "What's my name?"},
    ]
    reminder = 'Answer "{message}" as you.'
    assert to_chat_messages("be brief", items, reminder) == [  # type: ignore[arg-type]
        {"role": "system", "content": "be brief"},
        *items,
        {"role": "system", "content": 'Answer "What\'s my name?" as you.'},
    ]
    assert to_chat_messages(None, "hi", "be you") == [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "be you"},
    ]
    # A long paste is quoted in part only.
    quoted = to_chat_messages(None, "x" * 5000, reminder)[-1]["content"]
    assert quoted == f'Answer "{"x" * REMINDER_QUOTE_CHARS}…" as you.'
    # No new message from the user (a run resumed after a tool call, say): no reminder.
    answered = [*items, {"role": "assistant", "content": "Sara."}]
    assert to_chat_messages(None, answered, reminder)[-1]["role"] == "assistant"  # type: ignore[arg-type]


def test_local_model_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        choose(MEMCHAT_LOCAL_MODEL=str(tmp_path / "missing.gguf"))


def test_nothing_configured_falls_back_to_the_embedded_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("memchat.models.resolve._embedded_model_installed", lambda: True)
    assert isinstance(choose().model, LocalModel)
    monkeypatch.setattr("memchat.models.resolve._embedded_model_installed", lambda: False)
    with pytest.raises(ModelNotConfigured):
        choose()


def test_sdk_items_become_chat_messages() -> None:
    items: list[Any] = [
        {"role": "system", "content": "What you know about the user:\n- name: Sara"},
        {"role": "user", "content": "hi"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "hello"}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    assert to_chat_messages("be brief", items) == [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": "What you know about the user:\n- name: Sara"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


def test_amx_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_int8\n")
    assert cpu_has_amx(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert not cpu_has_amx(cpuinfo)
    assert not cpu_has_amx(tmp_path / "missing")


def test_weight_repacking_is_off_only_while_loading_on_amx() -> None:
    capi = SimpleNamespace(llama_model_default_params=lambda: SimpleNamespace(use_extra_bufts=True))
    with _without_repacking(capi, when=False):
        assert capi.llama_model_default_params().use_extra_bufts
    with _without_repacking(capi, when=True):
        assert not capi.llama_model_default_params().use_extra_bufts
    assert capi.llama_model_default_params().use_extra_bufts


def test_the_embedded_models_sampling_takes_the_call_settings_over_its_defaults() -> None:
    from agents.model_settings import ModelSettings

    from memchat.models.generation import sampling

    assert sampling(ModelSettings(), 0.2, 512) == {"temperature": 0.2, "max_tokens": 512}
    given = ModelSettings(
        temperature=0.0,
        max_tokens=16,
        top_p=0.9,
        extra_args={"seed": 7, "top_k": 5, "stream": False, "grammar": "x"},
    )
    # Only the sampling knobs llama.cpp takes pass through extra_args.
    assert sampling(given, 0.2, 512) == {
        "temperature": 0.0,
        "max_tokens": 16,
        "top_p": 0.9,
        "seed": 7,
        "top_k": 5,
    }
