"""Memory at scale: context assembly on conversations of 100, 10,000 and 100,000 turns.

    python bench/long_chat.py [--budget 1536] [--rounds 200] [--json]

Builds one synthetic conversation per size with facts planted in its first turns (a
name, a favourite colour, a dog's name), then plays ``--rounds`` chat rounds on each:
assemble the context for a new message (timed), then commit the turn, as the chat does.
Reports assembly time p50/p95 per size and checks every context against the budget.
Finally runs real turns through ``Chat`` with the SDK's ScriptedModel and checks that the
planted facts reach the model's input when asked about them. No LLM is used: summaries
come from the extractive summarizer (a model summarizer costs a model call, not assembly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agents import Agent
from agents.testing import ModelStep, ScriptedModel, assistant_message

from memchat.chat import Chat
from memchat.memory.context import Memory, store_recall
from memchat.store import SQLiteStore, Turn
from memchat.store.base import SessionRecord, now

SIZES = (100, 10_000, 100_000)
SYSTEM = "You are a helpful assistant that remembers the conversation."
PLANTED = (
    "Hi, my name is Sara.",
    "My favourite colour is teal.",
    "My dog's name is Rex.",
)
QUESTIONS = {
    "What's my name?": "Sara",
    "What is my favourite colour?": "teal",
    "What is my dog called?": "Rex",
}
TOPICS = ("the weather", "a recipe", "train times", "a book", "the garden", "taxes", "music")


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def reply(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def synthetic_turns(count: int) -> list[Turn]:
    """A conversation of ``count`` turns whose first turns plant the facts."""
    stamp = now()
    turns = []
    for n in range(count):
        if n < len(PLANTED):
            asked = PLANTED[n]
        else:
            asked = f"Turn {n}: tell me something about {TOPICS[n % len(TOPICS)]}, please."
        answer = f"Here is a short note about {TOPICS[n % len(TOPICS)]} for turn {n}."
        turns.append(Turn(n + 1, stamp, [user(asked), reply(answer)]))
    return turns


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    store: SQLiteStore, size: int, budget: int, rounds: int, project: str = ""
) -> dict[str, Any]:
    """Play ``rounds`` rounds on a fresh session of ``size`` turns (in ``project``, whose
    memory is scoped, if one is given); time each assembly."""
    session_id = f"s{size}"
    turns = synthetic_turns(size)
    record = SessionRecord(
        "sara", session_id, None, now(), {}, turns, project=project, scoped=bool(project)
    )
    store.import_sessions([record])
    info = store.get_session("sara", session_id)
    memory = Memory(store, budget=budget, recall=store_recall(store))
    timings: list[float] = []
    over_budget = 0
    for n in range(rounds):
        message = f"Round {n}: what did we say about {TOPICS[n % len(TOPICS)]}?"
        start = time.perf_counter()
        context = await memory.assemble(info, message, SYSTEM)
        timings.append((time.perf_counter() - start) * 1000)
        over_budget += context.tokens > budget
        store.commit_turn(info, [user(message), reply(f"Answer {n}.")])
    return {
        "turns": size,
        "p50_ms": round(statistics.median(timings), 3),
        "p95_ms": round(percentile(timings, 0.95), 3),
        "max_ms": round(max(timings), 3),
        "over_budget": over_budget,
    }


async def facts_reach_the_model(store: SQLiteStore, budget: int) -> dict[str, bool]:
    """Ask about each planted fact in the 100k-turn session; was it in the model's input?"""
    model = ScriptedModel(
        [ModelStep.respond(lambda _: [assistant_message("ok")]) for _ in QUESTIONS]
    )
    memory = Memory(store, budget=budget, recall=store_recall(store))
    chat = Chat(Agent(name="bench", instructions=SYSTEM, model=model), memory=memory)
    session = store.session("sara", f"s{SIZES[-1]}")
    found = {}
    for question, answer in QUESTIONS.items():
        await chat.run_turn(session, question)
        call = model.last_call
        found[question] = call is not None and answer in json.dumps(call.input)
    return found


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=1536, help="context token budget")
    parser.add_argument("--rounds", type=int, default=200, help="chat rounds per size")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--project", default="", help="each big session in this project, its memory scoped"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "long.db") as store:
        store.ensure_user("sara")
        memory = Memory(store, budget=args.budget)
        for n, text in enumerate(PLANTED, 1):
            memory.learn(store.ensure_session("sara", f"s{SIZES[0]}-facts"), text, n)
        rows = []
        for size in SIZES:
            rows.append(await measure(store, size, args.budget, args.rounds, args.project))
            print(f"  {size:>7,} turns: p50 {rows[-1]['p50_ms']} ms", file=sys.stderr)
        recalled = await facts_reach_the_model(store, args.budget)

    print(f"Context assembly, budget {args.budget} tokens, {args.rounds} rounds per size:\n")
    print("| turns | p50 ms | p95 ms | max ms | contexts over budget |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['turns']:,} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} "
            f"| {row['over_budget']} |"
        )
    print("\nPlanted facts in the model's input (100,000-turn session, ScriptedModel):")
    for question, ok in recalled.items():
        print(f"- {question} {'yes' if ok else 'NO'}")
    if args.json:
        print(json.dumps({"sizes": rows, "facts_reached_model": recalled}))
    return 0 if all(recalled.values()) and not any(r["over_budget"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
