"""What a turn cost: the tokens the provider reported to the Agents SDK, and the turn's times.

Tokens are the SDK's ``Usage`` as the run summed it over its model calls (``RunResult`` /
``RunResultStreaming.context_wrapper.usage``): a provider's own counts, and the embedded
model's from its own tokenizer (``local.py``). Times are measured here, on a monotonic clock.
"""

from __future__ import annotations

import time
from typing import Any

from agents.usage import Usage

from ..store.usage import TurnUsage


def model_label(model: Any) -> str:
    """A model's name for usage: the name it was configured by, else its class's name."""
    if isinstance(model, str) and model:
        return model
    for attribute in ("model", "name"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


class TurnClock:
    """The times of one turn: started when made, its first text, its end."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_text: float | None = None

    def text(self) -> None:
        """Note that text came (the first call marks the time to first token)."""
        if self.first_text is None:
            self.first_text = time.monotonic()

    def usage(self, usage: Usage, model: str) -> TurnUsage:
        """The turn's usage, ending now: ``usage`` is the SDK's sum over the run."""
        ended = time.monotonic()
        first = None if self.first_text is None else _ms(self.first_text - self.started)
        return TurnUsage(
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            requests=usage.requests,
            first_token_ms=first,
            total_ms=_ms(ended - self.started),
        )


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
