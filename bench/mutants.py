"""Mutation check: does some test fail when the code is made subtly wrong?

Each mutation in ``MUTATIONS`` (checked in below, so every run tries the same ones) changes
one piece of text in one module of store/, memory/ or chat.py, the way a slip would: an edge
moved by one, a check dropped, the wrong one of two functions called. For each, the script
copies ``src/`` and ``tests/`` to a scratch directory, applies it there (never to the work
tree), and runs the test files named with it. A mutation is *killed* when a test fails,
*survives* when they all pass. The kill rate and the survivors are printed; it exits 1 if
any survived.

    .venv/bin/python bench/mutants.py                 # every mutation
    .venv/bin/python bench/mutants.py --only 3 7      # some of them, by number
    .venv/bin/python bench/mutants.py --list          # what each one does

PostgreSQL runs use MEMCHAT_TEST_POSTGRES_URL's server, else each pytest run starts a
throwaway one (tests/pg.py), which adds a few seconds per mutation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (found exactly once in ``path``) by ``new``; ``tests`` should fail."""

    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


STORE = "src/memchat/store/"
MEMORY = "src/memchat/memory/"
CHAT = "src/memchat/chat.py"

MUTATIONS = [
    # The six that survived the hand-made check of issue 15.
    Mutation(
        MEMORY + "context.py",
        "SAFETY_MARGIN = 0.10",
        "SAFETY_MARGIN = 0",
        ("tests/test_budget.py", "tests/test_memory.py"),
        "no safety margin",
    ),
    Mutation(
        MEMORY + "context.py",
        "if used + cost > limit:",
        "if used + cost > limit + 1:",
        ("tests/test_budget.py", "tests/test_memory.py"),
        "facts may overrun their share by one token",
    ),
    Mutation(
        STORE + "sqlite/turns.py",
        "return items if limit is None else drop_orphan_outputs(items)",
        "return items",
        ("tests/test_session.py",),
        "SQLite get_items(limit) keeps an orphan tool output",
    ),
    Mutation(
        STORE + "postgres/turns.py",
        "return items if limit is None else drop_orphan_outputs(items)",
        "return items",
        ("tests/test_session.py",),
        "PostgreSQL get_items(limit) keeps an orphan tool output",
    ),
    Mutation(
        STORE + "session.py",
        "return drop_orphan_outputs(pending[-limit:])",
        "return pending[-limit:]",
        ("tests/test_session.py",),
        "the session's window of buffered items keeps an orphan output",
    ),
    Mutation(
        STORE + "session.py",
        "return drop_orphan_outputs(stored[: len(stored) - hidden] + pending)",
        "return stored[: len(stored) - hidden] + pending",
        ("tests/test_session.py",),
        "stored and buffered items joined without pairing",
    ),
    Mutation(
        "src/memchat/server/routes/memory.py",
        "forgetting.forget_fact(state.store, user.name, key_or_id)",
        "state.store.forget_fact(user.name, key_or_id)",
        ("tests/test_server_api.py",),
        "DELETE /api/facts/KEY deletes the fact but hides nothing from recall",
    ),
    Mutation(
        MEMORY + "tools.py",
        "forget_fact(self.store, self.user, key)",
        "self.store.forget_fact(self.user, key)",
        ("tests/test_memory_tools.py",),
        "the forget tool deletes the fact but hides nothing from recall",
    ),
    Mutation(
        STORE + "sqlite/database.py",
        "            conn.rollback()\n",
        "            pass\n",
        ("tests/test_store.py", "tests/test_turn_integrity.py"),
        "a failed SQLite write is not rolled back",
    ),
    # More of the same kind, in store/, memory/ and chat.py.
    Mutation(
        STORE + "checks.py",
        r'_NAME = re.compile(r"[\w.@+-]{1,64}")',
        r'_NAME = re.compile(r"[\w.@+-]{1,65}")',
        ("tests/test_contract.py",),
        "names of 65 characters accepted",
    ),
    Mutation(
        STORE + "checks.py",
        'return text.replace("\\x00", "")',
        "return text",
        ("tests/test_contract.py",),
        "NUL kept in titles and facts (PostgreSQL cannot)",
    ),
    Mutation(
        STORE + "contract/sessions.py",
        "key = secrets.token_hex(4) if session_id is None else",
        "key = secrets.token_hex(4) if not session_id else",
        ("tests/test_contract.py",),
        'create_session(u, "") makes a random session',
    ),
    Mutation(
        STORE + "contract/turns.py",
        "            turns = turns[1:]\n",
        "            pass\n",
        ("tests/test_contract.py", "tests/test_memory.py"),
        "recent_turns keeps a turn cut in half",
    ),
    Mutation(
        STORE + "checks.py",
        " or limit < 0)",
        ")",
        ("tests/test_contract.py",),
        "a negative limit accepted",
    ),
    Mutation(
        STORE + "quotas.py",
        "if count > cap:",
        "if count > cap + 1:",
        ("tests/test_quotas.py",),
        "one session or fact over the cap allowed",
    ),
    Mutation(
        STORE + "rates.py",
        "if wait > 0:",
        "if wait > 1:",
        ("tests/test_rates.py",),
        "a turn allowed up to a second early",
    ),
    Mutation(
        MEMORY + "forget.py",
        "    if mentions:\n        store.hide_from_recall(user, mentions)\n",
        "",
        ("tests/test_memory_tools.py",),
        "forgetting hides no message",
    ),
    Mutation(
        MEMORY + "forget.py",
        "        store.set_summary(session, summary.through_seq, " + '"\\n".join(lines))\n',
        "",
        ("tests/test_memory_tools.py",),
        "forgetting leaves the fact in summaries",
    ),
    Mutation(
        STORE + "sqlite/turns.py",
        '        conn.execute("UPDATE sessions SET turn_count = turn_count - 1 WHERE id = ?",'
        " (session.pk,))\n",
        "",
        ("tests/test_contract.py", "tests/test_session.py"),
        "a deleted turn still counted",
    ),
    Mutation(
        STORE + "codec.py",
        "    if not isinstance(item, dict):\n        raise CorruptData(",
        "    if False:\n        raise CorruptData(",
        ("tests/test_store.py", "tests/test_postgres.py", "tests/test_fuzz.py"),
        "a stored item that is not an object read as one",
    ),
    # The turn's result (chat.py's TurnResult): what each turn did comes back with it.
    Mutation(
        CHAT,
        "changes = self.memory.learn(session.info, text, turn.seq)",
        "self.memory.learn(session.info, text, turn.seq)",
        ("tests/test_turn_result.py",),
        "the facts a message stated are missing from its result",
    ),
    Mutation(
        CHAT,
        'changes += tools_memory.apply(f"{session.info.id}#{turn.seq}")',
        'tools_memory.apply(f"{session.info.id}#{turn.seq}")',
        ("tests/test_turn_result.py",),
        "what the memory tools changed is missing from the result",
    ),
    Mutation(
        CHAT,
        "reply_tokens=count(reply),",
        "reply_tokens=count(text),",
        ("tests/test_turn_result.py",),
        "the reply's tokens counted from the message",
    ),
    Mutation(
        CHAT,
        "items=tuple(turn.items),",
        "items=tuple(turn.items[:1]),",
        ("tests/test_turn_result.py",),
        "the result's stored turn holds only the user's message",
    ),
    Mutation(
        CHAT,
        "                turn.context = context.items\n",
        "                turn.context = context.items\n"
        '                self.memory.__dict__["last"] = context\n'
        '                await __import__("asyncio").sleep(0)\n'
        '                context = self.memory.__dict__["last"]\n',
        ("tests/test_turn_result.py",),
        "the context kept in one slot shared by the chat's turns (the last one wins)",
    ),
]


def run(mutation: Mutation, scratch: Path) -> tuple[bool, float, str]:
    """Apply ``mutation`` in ``scratch``, run its tests: (killed, seconds, last line)."""
    target = scratch / mutation.path
    original = target.read_text(encoding="utf-8")
    found = original.count(mutation.old)
    if found != 1:
        raise SystemExit(f"{mutation.path}: {mutation.old!r} found {found} times, not once")
    target.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(scratch / "src")}
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p"]
    args += ["no:randomly", *mutation.tests]
    start = time.monotonic()
    try:
        done = subprocess.run(args, cwd=scratch, env=env, capture_output=True, text=True)
    finally:
        target.write_text(original, encoding="utf-8")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    # Exit code 1: a test failed. Anything else but 0 (an error collecting, a crash) is
    # reported as it is, and counts as killed only if it is a failure.
    return done.returncode == 1, time.monotonic() - start, lines[-1] if lines else done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="*", help="mutation numbers (from 1)")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    options = parser.parse_args()
    chosen = [(n, m) for n, m in enumerate(MUTATIONS, 1) if not options.only or n in options.only]
    if options.list:
        for number, mutation in chosen:
            print(f"{number:2}. {mutation.path}: {mutation.why}")
        return 0
    survivors: list[int] = []
    with tempfile.TemporaryDirectory(prefix="memchat-mutants-") as tmp:
        scratch = Path(tmp)
        for part in ("src", "tests", "pyproject.toml", "conformance"):
            source = ROOT / part
            if source.is_dir():
                shutil.copytree(source, scratch / part)
            else:
                shutil.copy(source, scratch / part)
        for number, mutation in chosen:
            killed, seconds, last = run(mutation, scratch)
            verdict = "killed" if killed else "SURVIVED"
            print(f"{number:2}. {verdict:8} {seconds:5.1f} s  {mutation.why}  [{last}]")
            if not killed:
                survivors.append(number)
    total = len(chosen)
    print(f"{total - len(survivors)} of {total} killed; survived: {survivors or 'none'}")
    if options.json:
        print(
            json.dumps(
                {"mutations": total, "killed": total - len(survivors), "survived": survivors}
            )
        )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
