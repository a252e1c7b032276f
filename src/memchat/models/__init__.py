"""Chat models: which one the configuration selects, and how to reach it."""

from __future__ import annotations

from .prompt_state import prompt_session
from .resolve import ModelChoice, resolve_model

__all__ = ["ModelChoice", "prompt_session", "resolve_model"]
