"""Turn settings into an Agents SDK ``Model``: OpenAI, a compatible server, or LiteLLM."""

from __future__ import annotations

from dataclasses import dataclass

from agents import Model, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from ..config import Settings
from ..errors import ConfigError, ModelNotConfigured

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
LITELLM_PREFIX = "litellm/"

HOW_TO_CONFIGURE = """no chat model is configured. Set one of:
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

    @property
    def description(self) -> str:
        """One line for ``memchat config`` and the chat banner."""
        tools = "" if self.supports_tools else " (no tools)"
        return f"{self.name} via {self.provider}{tools}"


def resolve_model(settings: Settings) -> ModelChoice:
    """The configured model; raise ModelNotConfigured with set-up help if there is none."""
    name = settings.model
    if name and name.startswith(LITELLM_PREFIX):
        return _litellm(settings, name.removeprefix(LITELLM_PREFIX))
    if settings.base_url:
        if not name:
            raise ConfigError("MEMCHAT_BASE_URL is set but MEMCHAT_MODEL is not: name the model")
        # Local servers (Ollama, vLLM) accept any key, but the client insists on one.
        client = AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key or "unused")
        return ModelChoice(
            OpenAIChatCompletionsModel(model=name, openai_client=client),
            provider=settings.base_url,
            name=name,
        )
    key = settings.api_key or settings.openai_api_key
    if key:
        name = name or DEFAULT_OPENAI_MODEL
        client = AsyncOpenAI(api_key=key)
        return ModelChoice(
            OpenAIResponsesModel(model=name, openai_client=client), provider="OpenAI", name=name
        )
    raise ModelNotConfigured(HOW_TO_CONFIGURE)


def _litellm(settings: Settings, name: str) -> ModelChoice:
    try:
        from agents.extensions.models.litellm_model import LitellmModel
    except ImportError as exc:
        raise ConfigError(
            f"{LITELLM_PREFIX}{name} needs LiteLLM: pip install 'memchat[litellm]'"
        ) from exc
    model = LitellmModel(model=name, base_url=settings.base_url, api_key=settings.api_key)
    return ModelChoice(model, provider="LiteLLM", name=name)
