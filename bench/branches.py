"""Branches at scale: context assembly on a 1,000-turn session with 50 branches.

    python bench/branches.py [--budget 1536] [--rounds 200] [--db URL] [--json]

Imports two sessions of 1,000 turns (as ``bench/long_chat.py`` builds them), each of its
own user so that neither's recall searches the other's: one plain, one with 50 inactive
branches of 5 turns each, forking every 20 turns, whose messages hold a marker word.
Then plays ``--rounds`` chat rounds on each, as long_chat.py does: assemble the context
for a new message (timed), commit the turn; every tenth round on the branched session
also edits its last turn (a new branch) and switches back to the line it had (timed).
Checks every context against the budget and that no inactive branch's text reaches one.
``--db`` runs on another store (a PostgreSQL URL); a temporary SQLite file otherwise. No
LLM is used.
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

from long_chat import SYSTEM, TOPICS, percentile, reply, synthetic_turns, user
from memchat.memory.context import Memory, store_recall
from memchat.store import Store, Turn, open_store
from memchat.store.base import BranchRecord, SessionRecord, now

TURNS = 1000
BRANCHES = 50
BRANCH_TURNS = 5
MARKER = "offbranch"


def branched(session_id: str) -> SessionRecord:
    """1,000 active turns and 50 branches of 5 turns, one every 20 turns."""
    stamp = now()
    branches = []
    seq = TURNS
    for n in range(BRANCHES):
        fork = (n + 1) * (TURNS // BRANCHES) - 1
        turns = []
        for k in range(BRANCH_TURNS):
            seq += 1
            text = f"{MARKER} {n}.{k}: what about {TOPICS[k % len(TOPICS)]} instead?"
            turns.append(Turn(seq, stamp, [user(text), reply(f"{MARKER} answer {n}.{k}")]))
        branches.append(BranchRecord(n + 1, 0, fork, stamp, turns))
    turns = synthetic_turns(TURNS)
    return SessionRecord(session_id, session_id, None, stamp, {}, turns, branches=tuple(branches))


async def measure(store: Store, session_id: str, budget: int, rounds: int) -> dict[str, Any]:
    info = store.get_session(session_id, session_id)
    memory = Memory(store, budget=budget, recall=store_recall(store))
    timings: list[float] = []
    edits: list[float] = []
    switches: list[float] = []
    over_budget = leaked = 0
    for n in range(rounds):
        message = f"Round {n}: what did we say about {TOPICS[n % len(TOPICS)]}?"
        start = time.perf_counter()
        context = await memory.assemble(info, message, SYSTEM)
        timings.append((time.perf_counter() - start) * 1000)
        over_budget += context.tokens > budget
        leaked += MARKER in json.dumps(context.items)
        store.commit_turn(info, [user(message), reply(f"Answer {n}.")])
        if session_id == "branched" and n % 10 == 9:
            start = time.perf_counter()
            store.commit_turn(info, [user(f"{MARKER} edit {n}"), reply("ok")], replace_last=True)
            edits.append((time.perf_counter() - start) * 1000)
            newest = max(b.id for b in store.list_branches(info))
            start = time.perf_counter()
            store.activate_branch(info, newest)  # the edit undone: the line as it was
            switches.append((time.perf_counter() - start) * 1000)
    row: dict[str, Any] = {
        "session": session_id,
        "branches": len(store.list_branches(info)),
        "p50_ms": round(statistics.median(timings), 3),
        "p95_ms": round(percentile(timings, 0.95), 3),
        "max_ms": round(max(timings), 3),
        "over_budget": over_budget,
        "inactive_text_in_context": leaked,
    }
    if edits:
        row["edit_p50_ms"] = round(statistics.median(edits), 3)
        row["switch_p50_ms"] = round(statistics.median(switches), 3)
    return row


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=1536, help="context token budget")
    parser.add_argument("--rounds", type=int, default=200, help="chat rounds per session")
    parser.add_argument("--db", help="a store URL (default: a temporary SQLite file)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or str(Path(tmp) / "branches.db"))
        try:
            plain = SessionRecord("plain", "plain", None, now(), {}, synthetic_turns(TURNS))
            store.import_sessions([plain, branched("branched")])
            rows = [
                await measure(store, name, args.budget, args.rounds)
                for name in ("plain", "branched")
            ]
        finally:
            for name in ("plain", "branched"):
                if store.find_session(name, name) is not None:
                    store.delete_user(name)
            store.close()

    print(f"Context assembly, {TURNS:,} turns, budget {args.budget}, {args.rounds} rounds:\n")
    print("| session | branches | p50 ms | p95 ms | max ms | over budget | branch text seen |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['session']} | {row['branches']} | {row['p50_ms']} | {row['p95_ms']} "
            f"| {row['max_ms']} | {row['over_budget']} | {row['inactive_text_in_context']} |"
        )
    edited = rows[1]
    print(
        f"\nEdit of the last turn (a new branch): p50 {edited['edit_p50_ms']} ms;"
        f" switching to a branch: p50 {edited['switch_p50_ms']} ms."
    )
    if args.json:
        print(json.dumps(rows))
    failed = any(r["over_budget"] or r["inactive_text_in_context"] for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
