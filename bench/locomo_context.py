"""Memory end to end on LoCoMo: does the answer's evidence reach the model's context?

``bench/locomo_recall.py`` asks the recall component alone for k passages. This asks the
whole memory: each conversation is stored as in that script (one user, one memchat
session per LoCoMo session), then every question of categories 1-4 is the first message
of a new session of that user, and ``Memory.assemble`` builds the model's context for it
within a token budget, exactly as a chat turn would (system prompt, facts, earlier
messages, no recent turns in a new session). A question counts as the share of its
evidence turns whose whole text is in that context (an evidence turn the conversation
lacks counts as missed: REALTALK's dev file lacks 49 of its 887, so 96.3 is its
ceiling). Unlike ``locomo_recall.py`` the speakers' names are not passed (a chat does not
know them).

    python bench/locomo_context.py --data ../shared/data/locomo/locomo-dev.json [--json]
        [--budgets 1536,4000,16000] [--recall-k 6,25] [--in-last-session]

Tokens are counted as memchat counts them for the model that has that budget: at the
embedded model's 1,536 with its own tokenizer (its weights from ``--data-dir``, memchat's
data directory by default; the estimate, with a note, where they are missing), at any
other budget with the estimate (``memory/tokens.py``) used for API models.

Without ``--recall-k`` it runs memchat's default (``"recall_k": "default"``): every
earlier message when they all fit, else excerpts around as many recalled passages as the
room holds. ``tokens`` is what the earlier messages took, whole or as excerpts. Several
``--data`` files are measured one after the other, so dev and other sets can be compared.

No model is called. The data is CC BY-NC 4.0: read from where it lies, never copied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from locomo_recall import CATEGORIES, Conversation, load, store_all
from memchat.config import DEFAULT_SYSTEM_PROMPT
from memchat.memory import excerpts
from memchat.memory.context import SLOW_PROMPT_RECALL_SHARE, Memory, store_recall
from memchat.memory.tokens import TokenCounter, counter_for, estimate_tokens
from memchat.models.resolve import LOCAL_CONTEXT_TOKENS
from memchat.store import SQLiteStore


async def evaluate(
    conversations: list[Conversation],
    directory: Path,
    budget: int,
    recall_k: int | None,
    *,
    count: TokenCounter = estimate_tokens,
    in_last: bool = False,
) -> tuple[dict[int, list[float]], list[int], list[float]]:
    """Evidence in context by category (0: all), recalled tokens per question, ms each.

    ``in_last`` asks each question as the next message of the conversation's last session
    (its recent turns in the window, the rest summarized), not in a new session.
    """
    found: dict[int, list[float]] = defaultdict(list)
    recalled_tokens: list[int] = []
    latencies: list[float] = []
    for number, conv in enumerate(conversations):
        with SQLiteStore(directory / f"context-{budget}-{recall_k}-{number}.db") as store:
            store_all(store, [conv])
            text_of = dict(conv.messages)
            # The embedded model's budget comes with its other setting (Chat.from_settings).
            local = budget == LOCAL_CONTEXT_TOKENS
            memory = Memory(
                store,
                budget,
                count=count,
                recall=store_recall(store),
                recall_k=recall_k,
                steady_recall_share=SLOW_PROMPT_RECALL_SHARE if local else None,
                facts_as_answer=local,
            )
            last = conv.records[-1].id
            for index, question in enumerate(conv.questions):
                session = store.ensure_session(conv.user, last if in_last else f"ask-{index}")
                start = time.perf_counter()
                context = await memory.assemble(session, question.text, DEFAULT_SYSTEM_PROMPT)
                latencies.append((time.perf_counter() - start) * 1000)
                shown = "\n".join(_text(item) for item in context.items)
                hits = [d for d in question.evidence if d in text_of and text_of[d] in shown]
                share = len(hits) / len(question.evidence)
                found[question.category].append(share)
                found[0].append(share)
                parts = {part.name: part.tokens for part in context.parts}
                # Earlier messages reach the model whole or as recalled excerpts.
                recalled_tokens.append(
                    parts.get("recalled", 0) + parts.get("earlier conversations", 0)
                )
    return found, recalled_tokens, latencies


def _cell(shares: list[float]) -> str:
    """A category's mean evidence share, or "-" for a file without that category."""
    return f"{100 * statistics.mean(shares):>12.1f}" if shares else f"{'-':>12}"


def _text(item: dict[str, Any]) -> str:
    content = item.get("content", "")
    if isinstance(content, list):  # an assistant message: its text parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        nargs="+",
        help="LoCoMo-format JSON files; several are measured one after the other (dev first)",
    )
    parser.add_argument("--budgets", default="1536,4000,16000", help="token budgets")
    parser.add_argument(
        "--recall-k", help="MEMCHAT_RECALL_K values (default: memchat's default, as many as fit)"
    )
    parser.add_argument(
        "--in-last-session",
        action="store_true",
        help="ask in the conversation's last session, not a new one",
    )
    parser.add_argument(
        "--reach", type=int, default=excerpts.REACH, help="turns an excerpt reaches around a find"
    )
    parser.add_argument(
        "--decay", type=float, default=excerpts.DECAY, help="weight kept per turn away"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="memchat's data directory, for the embedded tokenizer"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    # Tuning knobs of memory/excerpts.py, to measure other settings than memchat's.
    excerpts.REACH, excerpts.DECAY = args.reach, args.decay
    budgets = [int(b) for b in args.budgets.split(",")]
    ks: list[int | None] = [int(k) for k in args.recall_k.split(",")] if args.recall_k else [None]
    names = " ".join(f"{CATEGORIES[c][:11]:>12}" for c in CATEGORIES)
    counters = {b: _counter(b, args.data_dir) for b in budgets}
    results = []
    for path in args.data:
        conversations = load(path)
        print(f"{path.name}:")
        print(f"{'budget':>7} {'k':>7} {'overall':>8} {names} {'tokens':>7} {'p50 ms':>7}")
        with tempfile.TemporaryDirectory() as tmp:
            for budget in budgets:
                for k in ks:
                    found, tokens, ms = asyncio.run(
                        evaluate(
                            conversations,
                            Path(tmp),
                            budget,
                            k,
                            count=counters[budget][1],
                            in_last=args.in_last_session,
                        )
                    )
                    overall = 100 * statistics.mean(found[0])
                    cells = " ".join(_cell(found[c]) for c in CATEGORIES)
                    p50 = statistics.median(ms)
                    mean_tokens = statistics.mean(tokens)
                    shown_k = "default" if k is None else k
                    print(
                        f"{budget:>7} {shown_k:>7} {overall:>8.1f} {cells}"
                        f" {mean_tokens:>7.0f} {p50:>7.2f}"
                    )
                    result: dict[str, Any] = {
                        "budget": budget,
                        "recall_k": shown_k,
                        "evidence_in_context": round(overall, 1),
                        "recalled_tokens": round(mean_tokens),
                        "p50_ms": round(p50, 2),
                        "counter": counters[budget][0],
                    }
                    if len(args.data) > 1:
                        result["data"] = path.name
                    results.append(result)
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")


def _counter(budget: int, data_dir: Path | None) -> tuple[str, TokenCounter]:
    """How memchat counts tokens for the model with this budget: ("embedded", its
    tokenizer) at the embedded model's budget when its weights are there, else the estimate."""
    if budget != LOCAL_CONTEXT_TOKENS:
        return "estimate", estimate_tokens
    try:
        from memchat.config import load_settings
        from memchat.models.local import LocalModel
        from memchat.models.weights import default_model_path
    except ImportError:  # no llama-cpp-python
        print("note: llama-cpp-python is not installed: the estimate counts tokens at 1536")
        return "estimate", estimate_tokens
    path = default_model_path(data_dir or load_settings().home)
    if not path.exists():
        print(f"note: no embedded weights at {path}: the estimate counts tokens at 1536")
        return "estimate", estimate_tokens
    return "embedded", counter_for(LocalModel(path))


if __name__ == "__main__":
    main()
