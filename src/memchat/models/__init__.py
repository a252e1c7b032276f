"""Chat models: which one the configuration selects, and how to reach it."""

from __future__ import annotations

from .resolve import ModelChoice, resolve_model

__all__ = ["ModelChoice", "resolve_model"]
