"""Importing another app's history: a synthetic ChatGPT export of 500 conversations.

    python bench/import_export.py [--conversations 500] [--turns 10] [--json]
        [--postgres URL]

Writes a ``conversations.json`` in ChatGPT's shape (an empty root, a hidden system
message, then user and assistant messages; every tenth conversation with a regenerated
reply and an edited question, so branches are read too), then times
``memchat.transfer.import_file`` into a fresh SQLite store (and a PostgreSQL schema with
``--postgres``): reading, turning trees into sessions, and the one transaction that
writes them with their search index. Goal (the conversations issue): under 30 s.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memchat.store import open_store
from memchat.transfer import import_file

WORDS = [
    *("trip", "train", "Porto", "recipe", "soup", "garden", "cat", "dog", "budget"),
    *("laptop", "python", "bug", "deploy", "weekend", "museum", "concert", "guitar"),
    *("marathon", "knee", "doctor", "rent", "landlord", "novel", "chapter"),
]
T0 = 1_700_000_000.0


def gpt_message(role: str, text: str, at: float, hidden: bool = False) -> dict[str, Any]:
    """A message as ChatGPT's export writes it."""
    return {
        "id": f"m-{at}",
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": at,
        "update_time": None,
        "content": {"content_type": "text", "parts": [text]},
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": {"is_visually_hidden_from_conversation": True} if hidden else {},
        "recipient": "all",
    }


def gpt_conversation(
    key: str, title: str, nodes: list[tuple[str, str | None, dict[str, Any] | None]], current: str
) -> dict[str, Any]:
    """A conversation from (node id, parent id, message or None) triples."""
    mapping: dict[str, Any] = {
        node: {"id": node, "message": message, "parent": parent, "children": []}
        for node, parent, message in nodes
    }
    for node, parent, _ in nodes:
        if parent is not None:
            mapping[parent]["children"].append(node)
    return {
        "title": title,
        "create_time": T0,
        "update_time": T0,
        "mapping": mapping,
        "current_node": current,
        "conversation_id": key,
        "id": key,
    }


def synthetic_export(conversations: int, turns: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + "."

    export = []
    for number in range(conversations):
        at = T0 + number * 3600
        nodes: list[tuple[str, str | None, dict[str, Any] | None]] = [
            ("root", None, None),
            ("sys", "root", gpt_message("system", "", at, hidden=True)),
        ]
        parent = "sys"
        for turn in range(turns):
            nodes.append((f"u{turn}", parent, gpt_message("user", sentence(), at + 2 * turn)))
            nodes.append(
                (f"a{turn}", f"u{turn}", gpt_message("assistant", sentence(), at + 2 * turn + 1))
            )
            parent = f"a{turn}"
        if number % 10 == 0 and turns > 2:
            nodes.append(("a1x", "u1", gpt_message("assistant", sentence(), at + 100)))
            nodes.append(("u2x", "a1", gpt_message("user", sentence(), at + 101)))
            nodes.append(("a2x", "u2x", gpt_message("assistant", sentence(), at + 102)))
        key = f"c0ffee00-0000-4000-8000-{number:012d}"
        export.append(gpt_conversation(key, f"Conversation {number}", nodes, parent))
    return export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--postgres", help="also import into this PostgreSQL database")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conversations.json"
        path.write_text(json.dumps(synthetic_export(args.conversations, args.turns)))
        size = path.stat().st_size / 1e6
        print(f"{args.conversations} conversations, {args.turns} turns each, {size:.1f} MB")
        locations = {"sqlite": str(Path(tmp) / "import.db")}
        if args.postgres:
            schema = f"memchat_bench_{secrets.token_hex(4)}"
            locations["postgres"] = f"{args.postgres}?options=-csearch_path%3D{schema}"
            _create_schema(args.postgres, schema)
        results = {}
        for backend, location in locations.items():
            with open_store(location) as store:
                start = time.perf_counter()
                archive = import_file(store, path, "sara")
                seconds = time.perf_counter() - start
            results[backend] = round(seconds, 2)
            sessions = len(archive.sessions)
            print(f"{backend}: {sessions} sessions, {archive.turns} turns in {seconds:.2f} s")
        if args.postgres:
            _drop_schema(args.postgres, schema)
    goal_met = all(seconds < 30 for seconds in results.values())
    if args.json:
        sys.stdout.write(
            json.dumps({"conversations": args.conversations, "seconds": results}) + "\n"
        )
    sys.exit(0 if goal_met else 1)


def _create_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
