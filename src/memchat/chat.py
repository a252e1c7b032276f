"""One turn: the user's message -> the agent -> one atomic write of the turn.

Every interface (the terminal, ``memchat ask``, the HTTP server, the library) goes through
:meth:`Chat.stream_turn`, so they share the same guarantees: a turn is stored whole or
not at all, and turns of one session never interleave. What a turn did comes back as its
:class:`TurnResult`, never as state on the :class:`Chat`, so one Chat serves any number
of turns at once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from agents import Agent, RunConfig, Runner
from openai.types.responses import ResponseTextDeltaEvent

from .config import Settings
from .errors import IncompleteAnswer, InputTooLarge, MemchatError, ModelCallFailed, TurnError
from .memory.context import SLOW_PROMPT_RECALL_SHARE, AssembledContext, Memory, store_recall
from .memory.facts import MemoryChanges
from .memory.summarize import ExtractiveSummarizer, ModelSummarizer, Summarizer
from .memory.tokens import counter_for, estimate_tokens
from .memory.tools import MEMORY_TOOLS, TurnMemory
from .models import ModelChoice, prompt_session, resolve_model
from .models.metering import TurnClock, model_label
from .store import Item, MemchatSession, Store
from .store.usage import TurnUsage


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


@dataclass(frozen=True)
class TurnResult:
    """What one stored turn was: its reply, what the model was given, what it changed."""

    user: str
    session_id: str
    # The stored turn's sequence number in its session (1 for the first turn).
    seq: int
    # The reply's text, as it streamed.
    reply: str
    # The turn's items as stored: the user's input, tool calls and their results, the reply.
    items: tuple[Item, ...]
    # What the model was given, part by part (``/context``); None for a chat without
    # memory, whose model gets the whole stored history.
    context: AssembledContext | None
    # What the turn changed in the user's facts (its message and its memory tools).
    changes: MemoryChanges
    # The reply's tokens, by the chat's token counter.
    reply_tokens: int
    # What the turn cost, as stored with it: the model's reported tokens and the times.
    usage: TurnUsage | None = None

    @property
    def context_tokens(self) -> int:
        """The tokens of the context the model was given (0 without memory)."""
        return self.context.tokens if self.context is not None else 0


@dataclass(frozen=True)
class Chat:
    """The agent and the rules every turn follows; it keeps nothing from turn to turn."""

    # Its tools, if any, get the turn's TurnMemory as their context.
    agent: Agent[Any]
    max_input_chars: int = 100_000
    tracing: bool = False
    # Without memory the model gets the whole stored history (fine for short chats).
    memory: Memory | None = None
    # The model's name in usage records (None: as the agent's model names itself).
    model_name: str | None = None

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
            facts_as_answer=choice.speaks_as_user,
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
        edit_seq: int | None = None,
        input_items: list[Any] | None = None,
        agent: Agent[Any] | None = None,
    ) -> AsyncGenerator[str | TurnResult, None]:
        """Run one turn, yielding the reply's text as it streams, then its TurnResult.

        The turn is committed when the iteration completes: the TurnResult comes last,
        once the turn is stored. If the model fails or gives no answer (IncompleteAnswer),
        the caller stops iterating, or the task is cancelled (Ctrl-C), nothing is stored.
        With ``replace_last`` the new turn replaces the session's last one, with
        ``edit_seq`` the turn ``edit_seq`` (the replaced turns stay, as a branch). With
        ``input_items`` the turn starts from those items (``text`` as a user message, then
        tool calls and their results a client made) instead of ``text`` alone. With
        ``agent`` this turn runs that agent (a client's instructions and tools, say) in
        place of the chat's.
        """
        self.check_input(text)
        agent = self.agent if agent is None else agent
        run_config = RunConfig(tracing_disabled=not self.tracing)
        cross_session = self.memory is None or self.memory.cross_session
        scope = None if cross_session else session.info.id
        tools_memory = TurnMemory(
            session.store, session.info.user, scope, project=session.info.memory_scope
        )
        context: AssembledContext | None = None
        parts: list[str] = []
        async with session.turn(replace_last=replace_last, edit_seq=edit_seq) as turn:
            clock = TurnClock()
            if self.memory is not None:
                instructions = agent.instructions
                context = await self.memory.assemble(
                    session.info,
                    text,
                    instructions if isinstance(instructions, str) else "",
                    replace_last=replace_last,
                    edit_seq=edit_seq,
                )
                turn.context = context.items
            # The embedded model keeps this session's prompt state for its next turn.
            turn_only = context.turn_only if context is not None else []
            with prompt_session(session.info.user, session.info.id, turn_only):
                result = Runner.run_streamed(
                    agent,
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
                        parts.append(event.data.delta)
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
            named = self.model_name if agent is self.agent else None
            model = named or model_label(agent.model)
            turn.usage = clock.usage(result.context_wrapper.usage, model)
        if turn.seq is None:
            # The SDK gave the session nothing to store (a custom session may drop items).
            raise TurnError(f"the turn in {session.name} stored nothing")
        # Memory changes only once the turn is stored: a failed turn changes nothing.
        changes = MemoryChanges()
        if self.memory is not None:
            changes = self.memory.learn(session.info, text, turn.seq)
        changes += tools_memory.apply(session.info, turn.seq)
        reply = "".join(parts)
        count = self.memory.count if self.memory is not None else estimate_tokens
        yield TurnResult(
            user=session.info.user,
            session_id=session.info.id,
            seq=turn.seq,
            reply=reply,
            items=tuple(turn.items),
            context=context,
            changes=changes,
            reply_tokens=count(reply),
            usage=turn.usage,
        )

    async def run_turn(
        self,
        session: MemchatSession,
        text: str,
        *,
        replace_last: bool = False,
        edit_seq: int | None = None,
        input_items: list[Any] | None = None,
        agent: Agent[Any] | None = None,
    ) -> TurnResult:
        """Run one turn and return its result (the whole reply is ``result.reply``)."""
        stream = self.stream_turn(
            session,
            text,
            replace_last=replace_last,
            edit_seq=edit_seq,
            input_items=input_items,
            agent=agent,
        )
        return await _result_of(stream)


async def _result_of(stream: AsyncGenerator[str | TurnResult, None]) -> TurnResult:
    """Run ``stream`` (a :meth:`Chat.stream_turn`) to its end and return its TurnResult."""
    async with aclosing(stream) as pieces:
        async for piece in pieces:
            if isinstance(piece, TurnResult):
                return piece
    raise TurnError("the turn ended without a result")
