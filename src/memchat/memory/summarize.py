"""Running summaries of the turns that no longer fit the model's context.

A summary is updated incrementally: the previous summary plus the turns that just fell
out of the window become the new summary. It is stored beside the items, never over them,
so ``/history`` and export still show everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agents import Agent, Model, RunConfig, Runner

from ..store import Turn
from ..store.titles import item_text

SUMMARY_INSTRUCTIONS = (
    "You keep a running summary of a conversation between a user and an assistant. "
    "Merge the previous summary with the new messages into one short summary in the third "
    "person. Keep every fact about the user (names, preferences, plans, dates) and every "
    "decision; drop small talk. Answer with the summary only."
)


class Summarizer(Protocol):
    """Makes a new running summary from the previous one and the turns that fell out."""

    async def __call__(self, previous: str | None, turns: Sequence[Turn], max_tokens: int) -> str:
        """The new summary, at most about ``max_tokens`` tokens long."""
        ...


def transcript(turns: Sequence[Turn]) -> str:
    """The turns' messages as "role: text" lines (tool items left out)."""
    lines = []
    for turn in turns:
        for item in turn.items:
            role = item.get("role")
            text = item_text(item)
            if role in ("user", "assistant") and text:
                lines.append(f"{role}: {text}")
    return "\n".join(lines)


class ModelSummarizer:
    """Summarizes with a chat model (the configured one, or a cheaper one)."""

    def __init__(self, model: Model) -> None:
        self.agent: Agent[None] = Agent(
            name="summarizer", instructions=SUMMARY_INSTRUCTIONS, model=model
        )

    async def __call__(self, previous: str | None, turns: Sequence[Turn], max_tokens: int) -> str:
        prompt = (
            f"Previous summary:\n{previous or '(none)'}\n\nNew messages:\n{transcript(turns)}\n\n"
            f"Write the updated summary in at most {max_tokens * 3 // 4} words."
        )
        result = await Runner.run(self.agent, prompt, run_config=RunConfig(tracing_disabled=True))
        return str(result.final_output).strip()


class ExtractiveSummarizer:
    """Summarizes without a model: the user's own words, newest kept when space runs out.

    The fallback when the model cannot summarize, and the summarizer of benchmarks.
    """

    async def __call__(self, previous: str | None, turns: Sequence[Turn], max_tokens: int) -> str:
        said = [
            item_text(item)
            for turn in turns
            for item in turn.items
            if item.get("role") == "user" and item_text(item)
        ]
        lines = ([previous] if previous else []) + [f"The user said: {text}" for text in said]
        budget = max_tokens * 4  # characters; a token is about four characters of prose
        kept: list[str] = []
        for line in reversed(lines):
            if sum(len(k) + 1 for k in kept) + len(line) > budget:
                break
            kept.append(line)
        return "\n".join(reversed(kept))
