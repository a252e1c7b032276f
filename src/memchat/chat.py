"""One turn: the user's message -> the agent -> one atomic write of the turn.

Every interface (the terminal, ``memchat ask``, the library) goes through
:meth:`Chat.stream_turn`, so they share the same guarantees: a turn is stored whole or
not at all, and turns of one session never interleave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, RunConfig, Runner
from openai.types.responses import ResponseTextDeltaEvent

from .config import Settings
from .errors import IncompleteAnswer, InputTooLarge, MemchatError, ModelCallFailed
from .memory.context import SLOW_PROMPT_RECALL_SHARE, AssembledContext, Memory, store_recall
from .memory.facts import MemoryChanges
from .memory.summarize import ExtractiveSummarizer, ModelSummarizer, Summarizer
from .memory.tokens import counter_for
from .memory.tools import MEMORY_TOOLS, TurnMemory
from .models import ModelChoice, prompt_session, resolve_model
from .models.metering import TurnClock, model_label
from .store import MemchatSession, Store


def check_message(text: str, max_chars: int) -> str:
    """Return ``text`` if it can be sent, else raise a MemchatError saying why."""
    if not text.strip():
        raise MemchatError("the message is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Python turns invalid UTF-8 bytes in argv or stdin into lone surrogates.
        raise MemchatError("the message is not valid UTF-8 text") from None
    if len(text) > max_chars:
        raise InputTooLarge(
            f"the message has {len(text):,} characters; the limit is "
            f"{max_chars:,} (MEMCHAT_MAX_INPUT_CHARS)"
        )
    return text


@dataclass(frozen=True)
class MemoryPlan:
    """How the settings and the chosen model shape each turn's memory."""

    budget: int
    # The most passages recalled per turn; None: as many as the budget holds.
    recall_k: int | None
    tools: bool
    # None: the user's own words (ExtractiveSummarizer); else the model that summarizes.
    summary_model: str | None

    @classmethod
    def of(cls, settings: Settings, choice: ModelChoice) -> MemoryPlan:
        """The plan for ``choice``: the settings where given, else the model's defaults."""
        if settings.summary_model:
            summary_model: str | None = settings.summary_model
        else:
            summary_model = choice.name if choice.summarizes_well else None
        return cls(
            budget=settings.context_tokens or choice.context_tokens,
            recall_k=settings.recall_k,
            # Only where the model can call them (the embedded model cannot).
            tools=choice.supports_tools and settings.memory_tools,
            summary_model=summary_model,
        )

    @property
    def _recalled(self) -> str:
        if self.recall_k is None:
            return "earlier messages: all that fit, else excerpts around what recall finds"
        return f"up to {self.recall_k} recalled passages"

    def __str__(self) -> str:
        summaries = self.summary_model or "the user's own words"
        tools = "remember, forget, search_history" if self.tools else "none"
        return (
            f"{self.budget:,}-token context, {self._recalled},"
            f" summaries by {summaries}, memory tools: {tools}"
        )


@dataclass
class Chat:
    """The agent and the rules every turn follows."""

    # Its tools, if any, get the turn's TurnMemory as their context.
    agent: Agent[Any]
    max_input_chars: int = 100_000
    tracing: bool = False
    # Without memory the model gets the whole stored history (fine for short chats).
    memory: Memory | None = None
    # The model's name in usage records (None: as the agent's model names itself).
    model_name: str | None = None
    # The context of the last turn, for ``/context``.
    last_context: AssembledContext | None = field(default=None, repr=False)
    # What the last turn changed in the user's facts, to show them.
    last_changes: MemoryChanges = field(default_factory=MemoryChanges, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, choice: ModelChoice, store: Store) -> Chat:
        """The chat agent the settings describe, running the chosen model, with memory."""
        plan = MemoryPlan.of(settings, choice)
        agent: Agent[Any] = Agent(
            name=settings.agent_name,
            instructions=settings.system_prompt,
            model=choice.model,
            tools=list(MEMORY_TOOLS) if plan.tools else [],
        )
        summarizer: Summarizer = ExtractiveSummarizer()
        if settings.summary_model:
            summary_model = resolve_model(settings.with_overrides(model=settings.summary_model))
            summarizer = ModelSummarizer(summary_model.model)
        elif plan.summary_model is not None:  # the chat model, which summarizes well
            summarizer = ModelSummarizer(choice.model)
        memory = Memory(
            store,
            budget=plan.budget,
            count=counter_for(choice.model),
            summarizer=summarizer,
            recall=store_recall(store),
            recall_k=plan.recall_k,
            cross_session=settings.cross_session,
            steady_recall_share=SLOW_PROMPT_RECALL_SHARE if choice.slow_prompt else None,
        )
        return cls(
            agent,
            max_input_chars=settings.max_input_chars,
            tracing=settings.tracing,
            memory=memory,
            model_name=choice.name,
        )

    def check_input(self, text: str) -> str:
        """Return ``text`` if it can be sent, else raise a MemchatError saying why."""
        return check_message(text, self.max_input_chars)

    async def stream_turn(
        self,
        session: MemchatSession,
        text: str,
        *,
        replace_last: bool = False,
        input_items: list[Any] | None = None,
    ) -> AsyncIterator[str]:
        """Run one turn, yielding the reply's text as it streams.

        The turn is committed when the iteration completes. If the model fails or gives
        no answer (IncompleteAnswer), the caller stops iterating, or the task is cancelled
        (Ctrl-C), nothing is stored.
        With ``replace_last`` the new turn replaces the session's last one. With
        ``input_items`` the turn starts from those items (``text`` as a user message, then
        tool calls and their results a client made) instead of ``text`` alone.
        """
        self.check_input(text)
        run_config = RunConfig(tracing_disabled=not self.tracing)
        cross_session = self.memory is None or self.memory.cross_session
        scope = None if cross_session else session.info.id
        tools_memory = TurnMemory(session.store, session.info.user, scope)
        async with session.turn(replace_last=replace_last) as turn:
            clock = TurnClock()
            if self.memory is not None:
                instructions = self.agent.instructions
                context = await self.memory.assemble(
                    session.info,
                    text,
                    instructions if isinstance(instructions, str) else "",
                    replace_last=replace_last,
                )
                turn.context = context.items
                self.last_context = context
            # The embedded model keeps this session's prompt state for its next turn.
            with prompt_session(session.info.user, session.info.id):
                result = Runner.run_streamed(
                    self.agent,
                    text if input_items is None else input_items,
                    session=session,
                    run_config=run_config,
                    context=tools_memory,
                )
            try:
                async for event in result.stream_events():
                    if event.type == "raw_response_event" and isinstance(
                        event.data, ResponseTextDeltaEvent
                    ):
                        clock.text()
                        yield event.data.delta
            except MemchatError:
                result.cancel()
                raise
            except Exception as exc:
                result.cancel()
                raise ModelCallFailed(
                    f"the model call failed ({type(exc).__name__}: {exc}); "
                    "nothing was saved, try again"
                ) from exc
            except BaseException:
                # Cancellation or Ctrl-C: stop the SDK's background task too.
                result.cancel()
                raise
            # A model answer without a single output item (an empty stream, say) is no
            # answer: raised inside the turn block, so nothing of the turn is stored.
            if not result.raw_responses or not result.raw_responses[-1].output:
                raise IncompleteAnswer("the model gave no answer; nothing was saved, try again")
            # Stored with the turn, in its transaction.
            model = self.model_name or model_label(self.agent.model)
            turn.usage = clock.usage(result.context_wrapper.usage, model)
        self.last_changes = MemoryChanges()
        if turn.seq is not None:
            # Memory changes only once the turn is stored: a failed turn changes nothing.
            if self.memory is not None:
                self.last_changes = self.memory.learn(session.info, text, turn.seq)
            self.last_changes += tools_memory.apply(f"{session.info.id}#{turn.seq}")

    async def run_turn(
        self,
        session: MemchatSession,
        text: str,
        *,
        replace_last: bool = False,
        input_items: list[Any] | None = None,
    ) -> str:
        """Run one turn and return the whole reply."""
        turn = self.stream_turn(session, text, replace_last=replace_last, input_items=input_items)
        return "".join([part async for part in turn])
