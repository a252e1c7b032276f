"""Turn settings into an Agents SDK ``Model``: OpenAI, a compatible server, LiteLLM, or
the embedded offline model when nothing else is configured."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents import Model, OpenAIResponsesModel
from openai import AsyncOpenAI

from ..config import Settings
from ..errors import ConfigError, MemchatError, ModelNotConfigured
from .completions import ChatCompletionsModel

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
LITELLM_PREFIX = "litellm/"

# A request that fails (a timeout, a 5xx, a dropped connection) is tried once more, so a
# turn's model call is made at most twice. The client's own default, two retries of up to
# 600 s each, held the session's lock for half an hour on a server that never answered.
MODEL_RETRIES = 1

LOCAL = "local"
# Small: every token of context costs a 2-core CPU about 3 ms to read (310 tokens/s).
LOCAL_CONTEXT_TOKENS = 1536
# Read by the embedded model right after the user's message (LocalModel.reminder), with
# the message quoted. From the system prompt alone, 16-17 of its 20 answers to questions
# about the user were the user's own words ("What's my name?" -> "My name is Xavier");
# bench/first_person.py, bench/README.md.
LOCAL_REMINDER = (
    'The user asks: "{message}" Answer that question, calling the user "you" (their things'
    ' are "your ..."), never "I" or "my".'
)
# The embedded model's saved prompt states, in the data directory.
PROMPT_STATES_DIR = "prompt-states"

HOW_TO_CONFIGURE = """no chat model is configured and the embedded one is not installed
(pip install 'memchat[local]', which `make chat` does). Or set one of:
  OPENAI_API_KEY=sk-...                        OpenAI (model: MEMCHAT_MODEL, default gpt-4.1-mini)
  MEMCHAT_BASE_URL=http://localhost:11434/v1   any OpenAI-compatible server (Ollama, vLLM,
  MEMCHAT_MODEL=llama3.2                       Gemini's compatible endpoint; MEMCHAT_API_KEY if
                                               the server needs a key)
  MEMCHAT_MODEL=litellm/anthropic/claude-...   a LiteLLM provider (pip install 'memchat[litellm]')
in the environment, a .env file, or memchat.toml in the data directory (see `memchat config`)."""


@dataclass(frozen=True)
class ModelChoice:
    """The model to run and how to describe it to the user."""

    model: Model
    provider: str
    name: str
    supports_tools: bool = True
    # The default token budget of the model's input (MEMCHAT_CONTEXT_TOKENS overrides).
    context_tokens: int = 16_000
    # Slow one-time work (assembling and loading local weights), run under a spinner.
    prepare: Callable[[], None] | None = None
    # Whether its summaries can be trusted. The embedded 0.5B model's garble who said
    # what ("She recommends a book for shellfish allergy"), and a wrong summary is worse
    # than none: memory then keeps the user's own words instead (ExtractiveSummarizer).
    summarizes_well: bool = True
    # Whether it reads its prompt slowly (the embedded model: about 3 ms a token on 2
    # cores), so that what changes every turn must stay small (Memory.steady_recall_share).
    slow_prompt: bool = False
    # Whether it takes the user's facts for its own when told them in a system message
    # ("What's my name?" -> "My name is Xavier"): memory then shows them as its own
    # earlier answer to the user (Memory.facts_as_answer; bench/first_person.py).
    speaks_as_user: bool = False

    @property
    def description(self) -> str:
        """One line for ``memchat config`` and the chat banner."""
        tools = "" if self.supports_tools else " (no tools)"
        return f"{self.name} via {self.provider}{tools}"


def resolve_model(settings: Settings) -> ModelChoice:
    """The configured model; raise ModelNotConfigured with set-up help if there is none."""
    name = settings.model
    if name == LOCAL or (settings.local_model and not name):
        return _local(settings)
    if name and name.startswith(LITELLM_PREFIX):
        return _litellm(settings, name.removeprefix(LITELLM_PREFIX))
    if settings.base_url:
        if not name:
            raise ConfigError("MEMCHAT_BASE_URL is set but MEMCHAT_MODEL is not: name the model")
        # Local servers (Ollama, vLLM) accept any key, but the client insists on one.
        client = _client(settings, settings.api_key or "unused", settings.base_url)
        return ModelChoice(
            ChatCompletionsModel(model=name, openai_client=client),
            provider=settings.base_url,
            name=name,
        )
    key = settings.api_key or settings.openai_api_key
    if key:
        name = name or DEFAULT_OPENAI_MODEL
        client = _client(settings, key)
        return ModelChoice(
            OpenAIResponsesModel(model=name, openai_client=client), provider="OpenAI", name=name
        )
    if _embedded_model_installed():
        return _local(settings)
    raise ModelNotConfigured(HOW_TO_CONFIGURE)


def _client(settings: Settings, api_key: str, base_url: str | None = None) -> AsyncOpenAI:
    """An OpenAI client that waits ``MEMCHAT_MODEL_TIMEOUT`` seconds and retries once.

    The timeout bounds each wait on the server (connecting, the answer's first byte, each
    next piece of a stream), so a long answer that keeps coming is never cut off.
    """
    return AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=float(settings.model_timeout),
        max_retries=MODEL_RETRIES,
    )


def _embedded_model_installed() -> bool:
    from .weights import find_part_files

    if importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        find_part_files()
    except MemchatError:
        return False
    return True


def _local(settings: Settings) -> ModelChoice:
    """The embedded llama.cpp model: a GGUF file of the user's, or the packaged default."""
    from .local import LocalModel
    from .weights import MODEL_FILENAME, default_model_path, ensure_default_model

    threads = min(os.cpu_count() or 2, 8)
    if settings.local_model:
        path = Path(settings.local_model).expanduser()
        if not path.is_file():
            raise ConfigError(f"MEMCHAT_LOCAL_MODEL: no such file {path}")
        model = LocalModel(
            path,
            name=path.stem,
            n_threads=threads,
            reminder=LOCAL_REMINDER,
            guard_voice=True,
            prompt_states=_prompt_states(settings),
        )
        return ModelChoice(
            model,
            "llama.cpp, offline",
            path.name,
            supports_tools=False,
            context_tokens=LOCAL_CONTEXT_TOKENS,
            prepare=model.load,
            slow_prompt=True,
            speaks_as_user=True,
        )
    model = LocalModel(
        default_model_path(settings.home),
        name=MODEL_FILENAME,
        n_threads=threads,
        reminder=LOCAL_REMINDER,
        guard_voice=True,
        prompt_states=_prompt_states(settings),
    )

    def prepare() -> None:
        ensure_default_model(settings.home)
        model.load()

    return ModelChoice(
        model,
        "llama.cpp, embedded, offline",
        "qwen2.5-coder-0.5b-instruct",
        supports_tools=False,
        context_tokens=LOCAL_CONTEXT_TOKENS,
        prepare=prepare,
        summarizes_well=False,
        slow_prompt=True,
        speaks_as_user=True,
    )


def _prompt_states(settings: Settings) -> Path | None:
    """Where the embedded model keeps each session's prompt state (``prompt_state.py``).

    Nowhere when messages are encrypted: the state holds the conversation's tokens in
    the clear.
    """
    if settings.encryption_key:
        return None
    return settings.home / PROMPT_STATES_DIR


def _litellm(settings: Settings, name: str) -> ModelChoice:
    try:
        from agents.extensions.models.litellm_model import LitellmModel
    except ImportError as exc:
        raise ConfigError(
            f"{LITELLM_PREFIX}{name} needs LiteLLM: pip install 'memchat[litellm]'"
        ) from exc
    model = LitellmModel(model=name, base_url=settings.base_url, api_key=settings.api_key)
    return ModelChoice(model, provider="LiteLLM", name=name)
