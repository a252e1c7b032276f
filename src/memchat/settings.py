"""memchat's settings: every one, its environment variable, its default and its help.

``config.py`` reads them (environment, ``.env``, ``memchat.toml``); ``memchat config``
shows them with ``Settings.describe``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# The last sentence keeps a small model from answering as if the user's facts were its
# own ("I live in Porto"): with it the embedded model answered 7 of 7 questions about
# stated facts and spoke as the user once, without it 6 of 7 and three times.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant talking with a user. You remember what the user told you"
    " about themselves and use it. You are not the user: when you tell the user about"
    ' themselves, say "you" and "your" (for example "Your name is ..."), never "I" or "my".'
    " Answer concisely."
)


@dataclass(frozen=True)
class Settings:
    """Everything memchat can be configured with."""

    home: Path = field(metadata={"env": "MEMCHAT_HOME", "help": "data directory"})
    db: str = field(metadata={"env": "MEMCHAT_DB", "help": "database path or postgresql:// URL"})
    user: str = field(metadata={"env": "MEMCHAT_USER", "help": "default user"})
    model: str | None = field(default=None, metadata={"env": "MEMCHAT_MODEL", "help": "model name"})
    base_url: str | None = field(
        default=None,
        metadata={"env": "MEMCHAT_BASE_URL", "help": "OpenAI-compatible server URL"},
    )
    api_key: str | None = field(
        default=None,
        metadata={"env": "MEMCHAT_API_KEY", "help": "key for that server", "secret": True},
    )
    openai_api_key: str | None = field(
        default=None,
        metadata={"env": "OPENAI_API_KEY", "help": "OpenAI API key", "secret": True},
    )
    local_model: str | None = field(
        default=None,
        metadata={"env": "MEMCHAT_LOCAL_MODEL", "help": "GGUF file for the embedded model"},
    )
    agent_name: str = field(
        default="memchat", metadata={"env": "MEMCHAT_AGENT_NAME", "help": "agent name"}
    )
    system_prompt: str = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={"env": "MEMCHAT_SYSTEM_PROMPT", "help": "system prompt"},
    )
    max_input_chars: int = field(
        default=100_000,
        metadata={"env": "MEMCHAT_MAX_INPUT_CHARS", "help": "longest accepted message", "min": 1},
    )
    context_tokens: int | None = field(
        default=None,
        metadata={
            "env": "MEMCHAT_CONTEXT_TOKENS",
            "help": "token budget of the model's input",
            # Below this the system prompt and a short message leave no room for memory.
            "min": 256,
        },
    )
    model_timeout: int = field(
        default=60,
        metadata={
            "env": "MEMCHAT_MODEL_TIMEOUT",
            "help": "seconds to wait on the model server (to connect, for the answer to"
            " start, between pieces of it); one retry",
            "min": 1,
        },
    )
    summary_model: str | None = field(
        default=None,
        metadata={"env": "MEMCHAT_SUMMARY_MODEL", "help": "model that writes summaries"},
    )
    recall_k: int | None = field(
        default=None,
        metadata={
            "env": "MEMCHAT_RECALL_K",
            "help": "most passages recalled per turn (default: as many as the budget holds)",
            "min": 0,
        },
    )
    cross_session: bool = field(
        default=True,
        metadata={"env": "MEMCHAT_CROSS_SESSION", "help": "facts and recall across sessions"},
    )
    encryption_key: str | None = field(
        default=None,
        metadata={
            "env": "MEMCHAT_ENCRYPTION_KEY",
            "help": "Fernet key(s) to encrypt messages at rest",
            "secret": True,
        },
    )
    old_encryption_key: str | None = field(
        default=None,
        metadata={
            "env": "MEMCHAT_OLD_ENCRYPTION_KEY",
            "help": "the key(s) `memchat rekey` re-seals rows from",
            "secret": True,
        },
    )
    rate_limit: str | None = field(
        default=None,
        metadata={
            "env": "MEMCHAT_RATE_LIMIT",
            "help": "model turns per user over HTTP, like 30/minute (unset: no limit)",
        },
    )
    max_sessions: int = field(
        default=10_000,
        metadata={"env": "MEMCHAT_MAX_SESSIONS", "help": "most sessions per user", "min": 1},
    )
    max_facts: int = field(
        default=1_000,
        metadata={"env": "MEMCHAT_MAX_FACTS", "help": "most facts per user", "min": 1},
    )
    max_header_bytes: int = field(
        default=16 * 1024,
        metadata={
            "env": "MEMCHAT_MAX_HEADER_BYTES",
            "help": "largest HTTP request line and headers, in bytes",
            "min": 1024,
        },
    )
    read_timeout: int = field(
        default=30,
        metadata={
            "env": "MEMCHAT_READ_TIMEOUT",
            "help": "seconds an HTTP client has to send a request's headers, then its body"
            " (an import's: the longest pause in it)",
            "min": 1,
        },
    )
    max_import_bytes: int = field(
        default=200 * 1024 * 1024,
        metadata={
            "env": "MEMCHAT_MAX_IMPORT_BYTES",
            "help": "largest file POST /api/import takes, and what a ZIP of one unpacks to",
            "min": 1024,
        },
    )
    keep_alive: int = field(
        default=5,
        metadata={
            "env": "MEMCHAT_KEEP_ALIVE",
            "help": "seconds an idle HTTP connection stays open after a response",
            "min": 1,
        },
    )
    max_connections: int = field(
        default=500,
        metadata={
            "env": "MEMCHAT_MAX_CONNECTIONS",
            "help": "open HTTP connections per server process; more get a 503",
            "min": 1,
        },
    )
    log_query: bool = field(
        default=False,
        metadata={
            "env": "MEMCHAT_LOG_QUERY",
            "help": "keep query strings (search words) in the HTTP access log",
        },
    )
    memory_tools: bool = field(
        default=True,
        metadata={
            "env": "MEMCHAT_MEMORY_TOOLS",
            "help": "give a model that calls tools remember, forget and search tools",
        },
    )
    encrypted_search: bool = field(
        default=False,
        metadata={
            "env": "MEMCHAT_ENCRYPTED_SEARCH",
            "help": "keep a keyed search index in an encrypted store (search and recall)",
        },
    )
    tracing: bool = field(
        default=False,
        metadata={"env": "MEMCHAT_TRACING", "help": "send SDK traces to OpenAI"},
    )
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with command-line values set (None means "not given")."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        sources = dict(self.sources) | {k: "command line" for k in given}
        return replace(self, **given, sources=sources)

    def describe(self, in_force: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
        """(setting, value shown, source) rows for ``memchat config``; secrets masked.

        ``in_force`` gives what an unset (None) setting amounts to, shown in its place: the
        token budget of the chosen model, say, rather than "None".
        """
        rows = []
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            shown = _mask(value) if f.metadata.get("secret") and value else str(value)
            if value is None and in_force and f.name in in_force:
                shown = in_force[f.name]
            # A database URL may carry a password (postgresql://user:secret@host/db).
            shown = _URL_PASSWORD.sub(r"\1****@", shown)
            rows.append((f"{f.name} ({f.metadata['env']})", shown, self.sources[f.name]))
        return rows


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^/]*@", re.IGNORECASE)


def _mask(secret: str) -> str:
    return secret[:3] + "…" + secret[-4:] if len(secret) > 12 else "****"
