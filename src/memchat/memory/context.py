"""What the model sees each turn: a context that fits a token budget, however long the chat.

Built from, in this order (the order keeps the start of the prompt stable from turn to
turn, so a local model's prompt cache stays valid):

1. the system prompt (the agent's instructions);
2. one system message with the user's facts and the summary of the turns that no
   longer fit (with ``Memory.facts_as_answer``, the facts come first as an exchange: a
   question of the user's and the assistant's answer, said to the user);
3. when all of them fit, the user's earlier messages, whole (the same from turn to turn);
4. the most recent whole turns that fit (a turn is never cut, so a tool call never loses
   its output);
5. one system message with the excerpts recalled from the user's history for this
   message (when 3 did not fit): the only part that changes every turn, so it comes
   last, right before the new message (``AssembledContext.turn_only``);
6. the new message.

The window of recent turns and its summary are ``window.py``'s; the parts a context is
made of, ``assembled.py``'s. The next turn's prompt holds this one's up to
the excerpts, then this turn's message and reply: the embedded model reads that much
ahead once it has replied (``models/next_prompt.py``).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from ..errors import FactNotFound, InputTooLarge, QuotaExceeded
from ..store import Item, SessionInfo, Store, Turn
from .assembled import RECALLED, AssembledContext, ContextPart, RecallFn, store_recall
from .excerpts import Excerpts, recalled, whole_history
from .facts import MemoryChanges, extract_facts, forget_requests, normalize_key
from .factsheet import ANSWER_EXTRA, NOTES_EXTRA, fact_sheet, facts_in_view, memory_notes
from .forget import forget_fact
from .summarize import ExtractiveSummarizer, Summarizer
from .tokens import MESSAGE_OVERHEAD, TokenCounter, estimate_tokens, item_tokens
from .window import Window

# What a caller of Memory takes from here too.
__all__ = [
    "RECALLED",
    "AssembledContext",
    "ContextPart",
    "Memory",
    "RecallFn",
    "store_recall",
]

# Shares of the budget reserved for each part (the window gets what is left).
FACTS_SHARE = 0.10
SUMMARY_SHARE = 0.15
RECALL_SHARE = 0.20
# A model that reads its prompt slowly (the embedded one) re-reads recalled excerpts every
# turn: once a session is under way they keep to this share (Memory.steady_recall_share),
# the share the budget reserves for recall. At 1,536 tokens bench/local_model.py read about
# 380 new tokens at turn 50, 1.2 s to the first token on 2 idle cores (goal 1.5 s); an
# eighth was faster but found much less of what was asked in a session under way.
SLOW_PROMPT_RECALL_SHARE = RECALL_SHARE
# The estimate can undercount a little; keep this much of the budget free.
SAFETY_MARGIN = 0.10
# The fewest tokens a message takes when shown (role, a word, a line break): a history
# of more items than the room over this cannot fit whole.
MIN_MESSAGE_TOKENS = 4
# Tokens of a typical recalled message: the room over this is how many passages recall
# is asked for (the excerpts around them fill the rest).
PASSAGE_TOKENS = 40


@dataclass
class Memory:
    """Assembles budgeted contexts and learns facts, for one store."""

    store: Store
    budget: int
    count: TokenCounter = estimate_tokens
    summarizer: Summarizer = field(default_factory=ExtractiveSummarizer)
    recall: RecallFn | None = None
    # The most passages recalled per turn; None: as many as the room could hold.
    recall_k: int | None = None
    cross_session: bool = True
    # For a model that reads its prompt slowly (the embedded one, on the CPU): once a
    # session has recent turns, recalled excerpts (read anew every turn, since they come
    # after the cached part of the prompt) take at most this share of the budget.
    # None: all the room the other parts leave.
    steady_recall_share: float | None = None
    # For a small model that answers questions about the user as if it were the user:
    # the facts are shown as its own earlier answer to the user (``_memory_items``).
    facts_as_answer: bool = False

    async def assemble(
        self,
        session: SessionInfo,
        message: str,
        system_prompt: str,
        *,
        replace_last: bool = False,
        edit_seq: int | None = None,
    ) -> AssembledContext:
        """The context for ``message`` in ``session``, within the budget.

        With ``replace_last`` (or ``edit_seq``) the message takes the place of the last
        turn (or of turn ``edit_seq`` and those after it): the model sees the turns before
        it only, and recall leaves the replaced ones out.
        """
        usable = int(self.budget * (1 - SAFETY_MARGIN))
        fixed = self.count(system_prompt) + MESSAGE_OVERHEAD
        asked = self.count(message) + MESSAGE_OVERHEAD
        if fixed + asked > usable:
            raise InputTooLarge(
                f"the message takes about {asked:,} tokens; with the system prompt that is "
                f"over this model's context budget of {self.budget:,} (MEMCHAT_CONTEXT_TOKENS)"
            )
        facts = self._facts_text(session, int(usable * FACTS_SHARE))
        summary_limit = int(usable * SUMMARY_SHARE)
        recall_limit = int(usable * RECALL_SHARE)
        # The memory message is reserved at its largest (the summary may grow below).
        as_answer = self.facts_as_answer and bool(facts)
        extra = self.count(ANSWER_EXTRA if as_answer else NOTES_EXTRA)
        extra += (3 if as_answer else 1) * MESSAGE_OVERHEAD
        memory_reserve = self.count(facts) + summary_limit + extra
        window_share = usable - fixed - asked - memory_reserve - recall_limit
        # Messages that stated a forgotten fact (forget.py): neither shown, summarized nor
        # recalled. Read once per turn, for the window and recall both.
        hidden = self.store.hidden_from_recall(session.user)
        replaced = self._replaced(session, replace_last, edit_seq)
        cut = replaced[0].seq if replaced else None
        hidden = hidden | {item_id for turn in replaced for item_id in turn.item_ids}
        window, summary = await Window(self.store, self.count, self.summarizer).read(
            session, max(window_share, 0), summary_limit, cut, hidden
        )

        context = AssembledContext(self.budget)
        context.parts.append(ContextPart("system prompt", fixed, system_prompt))
        memory_messages = memory_notes(facts, summary, as_answer=self.facts_as_answer)
        if memory_messages:
            memory_items: list[Item] = [
                {"role": role, "content": text} for role, text in memory_messages
            ]
            context.items.extend(memory_items)
            context.parts.append(
                ContextPart(
                    "facts and summary",
                    sum(item_tokens(item, self.count) for item in memory_items),
                    "\n\n".join(text for _, text in memory_messages),
                )
            )
        window_items = [item for turn in window for item in turn.items]
        window_tokens = sum(item_tokens(item, self.count) for item in window_items)
        window_part = ContextPart("recent turns", window_tokens, f"{len(window)} turns")

        # What is left of the budget goes to the user's earlier messages: all of them when
        # they fit, placed before the window, where they stay the same from turn to turn
        # (a prompt cache keeps them); otherwise the excerpts recall finds for this
        # message, placed after the window, so the prompt's start stays put whatever
        # they hold.
        room = usable - asked - window_tokens - sum(part.tokens for part in context.parts)
        leave_out = hidden | {item_id for turn in window for item_id in turn.item_ids}
        history = self._whole_history(session, room - MESSAGE_OVERHEAD, leave_out)
        if history is not None:
            self._add(context, "earlier conversations", history.text)
        context.items.extend(window_items)
        context.parts.append(window_part)
        if history is None:
            if window and self.steady_recall_share is not None:
                # A session under way: what is read anew each turn stays small.
                room = min(room, int(usable * self.steady_recall_share))
            found = self._recalled(session, message, room - MESSAGE_OVERHEAD, leave_out)
            if found is not None:
                self._add(context, RECALLED, found.text)
        context.parts.append(ContextPart("new message", asked, message))
        return context

    def learn(self, session: SessionInfo, message: str, seq: int) -> MemoryChanges:
        """Store the facts ``message`` states about the user, forget those it asks to
        forget; return what changed."""
        asked = set(forget_requests(message))
        forgotten: list[str] = []
        # The facts the session sees: in a scoped project, its own and the user-wide ones.
        seen = facts_in_view(self.store, session.user, session.memory_scope) if asked else []
        for fact in seen:
            # Keys stored before today's spelling rules ("favorite color") match too.
            if normalize_key(fact.key) in asked:
                with suppress(FactNotFound):
                    forget_fact(self.store, session.user, fact.key, project=fact.project)
                    if fact.key not in forgotten:
                        forgotten.append(fact.key)
        found = []
        for key, value in extract_facts(message):
            # A new fact over the user's cap (MEMCHAT_MAX_FACTS) is not kept; the turn is.
            with suppress(QuotaExceeded):
                self.store.set_fact(
                    session.user, key, value, f"{session.id}#{seq}", taught_by=(session, seq)
                )
                found.append((key, value))
        return MemoryChanges(tuple(found), tuple(forgotten))

    # -- the parts -------------------------------------------------------------------------

    def _replaced(
        self, session: SessionInfo, replace_last: bool, edit_seq: int | None
    ) -> list[Turn]:
        """The turns a new message takes the place of: turn ``edit_seq`` and those after
        it, or the last turn with ``replace_last``."""
        if edit_seq is not None:
            return self.store.turns_after(session, edit_seq - 1, None)
        last = self.store.last_turn(session) if replace_last else None
        return [] if last is None else [last]

    def _facts_text(self, session: SessionInfo, limit: int) -> str:
        if not self.cross_session:
            return ""
        return fact_sheet(
            self.store,
            session.user,
            limit,
            self.count,
            session.memory_scope,
            to_user=self.facts_as_answer,
        )

    def _scope(self, session: SessionInfo) -> str | None:
        """The session earlier messages come from, or None for all of the user's."""
        return None if self.cross_session else session.id

    def _add(self, context: AssembledContext, name: str, text: str) -> None:
        """Add one system message to ``context``."""
        item: Item = {"role": "system", "content": text}
        context.items.append(item)
        context.parts.append(ContextPart(name, item_tokens(item, self.count), text))

    def _whole_history(
        self, session: SessionInfo, room: int, leave_out: set[int]
    ) -> Excerpts | None:
        """Every earlier message of the user (or session), if they all fit ``room`` tokens."""
        if self.recall is None or room <= 0:
            return None
        scope = self._scope(session)
        # Each message takes a few tokens at least, so a longer history cannot fit: it is
        # not read at all.
        messages = self.store.all_messages(
            session.user,
            limit=room // MIN_MESSAGE_TOKENS,
            session_id=scope,
            project=session.memory_scope,
            shared_only=session.memory_scope is None,
        )
        if messages is None:
            return None
        shown = [m for m in messages if m.item_id not in leave_out]
        return whole_history(shown, room, self.count)

    def _recalled(
        self, session: SessionInfo, message: str, room: int, leave_out: set[int]
    ) -> Excerpts | None:
        """Excerpts of the user's history around what recall finds for ``message``."""
        if self.recall is None or self.recall_k == 0 or room <= 0:
            return None
        scope = self._scope(session)
        # As many passages as could fit (each a message of some tokens), or the setting.
        k = self.recall_k if self.recall_k is not None else max(room // PASSAGE_TOKENS, 1)
        passages = self.recall(session.user, message, k, scope, leave_out, session.memory_scope)
        return recalled(self.store, session.user, passages, room, self.count, leave_out=leave_out)
