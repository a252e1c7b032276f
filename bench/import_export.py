"""Importing another app's history: a synthetic ChatGPT export of 500 conversations.

    python bench/import_export.py [--conversations 500] [--turns 10] [--json]
        [--postgres URL] [--no-cli]

Writes a ``conversations.json`` in ChatGPT's shape (an empty root, a hidden system
message, then user and assistant messages). Every tenth conversation has branches: a
regenerated reply and an edited question; every twentieth also an edit on that branch
(a branch of a branch), an edited first message, and the user back on the first path
(``current_node`` not on the last branch said). Then it times
``memchat.transfer.import_file`` into a fresh SQLite store (and a PostgreSQL schema with
``--postgres``): reading, turning trees into sessions with branches, and the one
transaction that writes them with their search index; and ``memchat import`` itself, run
in a pseudo-terminal as a person would run it, whose progress bar is checked to be drawn.
Goal (the conversations issue): under 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import random
import re
import secrets
import subprocess
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
        current = parent
        if number % 10 == 0 and turns > 2:
            branch = [
                ("a1x", "u1", "assistant"),  # a regenerated reply
                ("u2x", "a1", "user"),  # an edited question, answered and followed up
                ("a2x", "u2x", "assistant"),
                ("u3x", "a2x", "user"),
                ("a3x", "u3x", "assistant"),
            ]
            if number % 20 == 0:
                branch += [
                    ("u3y", "a2x", "user"),  # an edit on the branch: a branch of a branch
                    ("a3y", "u3y", "assistant"),
                    ("u0x", "sys", "user"),  # the first message edited
                    ("a0x", "u0x", "assistant"),
                ]
            for step, (node, above, role) in enumerate(branch):
                nodes.append((node, above, gpt_message(role, sentence(), at + 100 + step)))
            # The user went back to a branch said earlier: not the last one.
            current = parent if number % 20 == 0 else "a3x"
        key = f"c0ffee00-0000-4000-8000-{number:012d}"
        export.append(gpt_conversation(key, f"Conversation {number}", nodes, current))
    return export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--postgres", help="also import into this PostgreSQL database")
    parser.add_argument("--no-cli", action="store_true", help="skip `memchat import`")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
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
            branches = [b for record in archive.sessions for b in record.branches]
            aside = sum(len(b.turns) for b in branches)
            print(
                f"{backend}: {len(archive.sessions)} sessions, {archive.turns} turns and"
                f" {aside} on {len(branches)} branches in {seconds:.2f} s"
            )
        if args.postgres:
            _drop_schema(args.postgres, schema)
        drawn = True
        if not args.no_cli:
            seconds, shown, code = _memchat_import(path, Path(tmp))
            drawn = code == 0 and "reading conversations" in shown
            results["cli-sqlite"] = round(seconds, 2)
            print(f"memchat import (SQLite, in a terminal): {seconds:.2f} s, exit {code},"
                  f" progress bar drawn: {'yes' if drawn else 'no'}")  # fmt: skip
            plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).strip().splitlines()
            print("  it printed: " + plain[-1][:100])
    print(f"load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    goal_met = drawn and all(seconds < 30 for seconds in results.values())
    if args.json:
        sys.stdout.write(
            json.dumps({"conversations": args.conversations, "seconds": results}) + "\n"
        )
    sys.exit(0 if goal_met else 1)


def _memchat_import(path: Path, home: Path) -> tuple[float, str, int]:
    """Run ``memchat import`` in a pseudo-terminal, so that it draws its progress bar:
    the seconds it took (start-up included), what it showed, its exit code."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "memchat", "--db", str(home / "cli.db"), "import"]
    env = {**os.environ, "MEMCHAT_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "100"}
    start = time.perf_counter()
    process = subprocess.Popen(
        [*command, str(path), "--user", "sara"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    code = process.wait()
    seconds = time.perf_counter() - start
    os.close(leader)
    return seconds, shown.decode("utf-8", "replace"), code


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
