"""Concurrency: processes chatting in one session, or each in its own, lose and mix nothing.

    python bench/concurrency.py [--procs 8] [--turns 500] [--json] [--db PATH_OR_URL] [--no-sdk]

Three scenarios, each in a fresh database (or, with --db, as a fresh user of that one):

* one session: --procs processes each run --turns turns in the same session through
  ``Chat.run_turn`` (memchat's turn path) with a scripted model that echoes the message;
* separate sessions: the same, each process in a session of its own;
* SDK SQLiteSession: the first scenario with the Agents SDK's own ``SQLiteSession`` and
  ``Runner.run`` instead, for comparison (always a temporary SQLite file).

Every turn's model is given the session's last ``HISTORY`` items and the new message, and
each worker logs a digest of what its model was given. The check then counts:

* lost: turns whose ``run_turn`` returned but which are not stored;
* duplicated: messages stored more than once;
* interleaved: turns that are not exactly their message followed by its own reply, or whose
  model input was not the stored history right before the turn (another process's turn
  slipped in between reading the history and committing);
* errors: turns that raised.

Exit status 1 means a memchat scenario lost, duplicated or interleaved a turn, or raised.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents import Agent, RunConfig, Runner, SQLiteSession
from agents.memory.session_settings import SessionSettings
from agents.testing import ModelStep, ScriptedModel, assistant_message
from agents.testing.model import ModelCall

from memchat.chat import Chat
from memchat.store import MemchatSession, Store, open_store
from memchat.store.base import Item, is_user_message

# The items each turn's model sees besides the new message: enough to span several turns,
# few enough that a turn's cost does not grow with the session.
HISTORY = 40


def texts_of(items: Any) -> list[str]:
    """The text of every item, in order: a message's content or joined content parts."""
    if isinstance(items, str):
        return [items]
    texts = []
    for item in items:
        content = item.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        texts.append(str(content))
    return texts


def digest(texts: Sequence[str]) -> str:
    """A short fingerprint of a list of texts."""
    return hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()[:16]


def echo(pause: float = 0.0) -> ModelStep:
    """A model step answering ``echo: <the message>``, after ``pause`` seconds."""

    async def respond(call: ModelCall) -> Any:
        if pause:
            await asyncio.sleep(pause)
        return [assistant_message(f"echo: {texts_of(call.input)[-1]}")]

    return ModelStep.respond(respond)


def seen(session_id: str, message: str, call: ModelCall | None) -> dict[str, str]:
    """What a worker logs for one turn: the session, the message and its model's context."""
    assert call is not None
    return {"session": session_id, "message": message, "context": digest(texts_of(call.input)[:-1])}


def history_session(store: Store, user: str, session_id: str) -> MemchatSession:
    """A memchat session whose turns show the model the last ``HISTORY`` items."""
    return MemchatSession(
        store, store.get_session(user, session_id), SessionSettings(limit=HISTORY)
    )


# -- workers ---------------------------------------------------------------------------------


@dataclass
class WorkerLog:
    """One worker's turns (for each, what its model was given) and the errors it met."""

    seen: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Wall-clock time of the first turn's start and the last turn's end.
    started: float = 0.0
    finished: float = 0.0


async def memchat_worker(
    sessions: Sequence[MemchatSession], tag: str, turns: int, *, pause: float = 0.0
) -> WorkerLog:
    """Run ``turns`` turns in each session in turn through ``Chat.run_turn``."""
    model = ScriptedModel()
    chat = Chat(Agent(name="worker", model=model))
    log = WorkerLog(started=time.time())
    for n in range(turns):
        for session in sessions:
            message = f"{tag}-{n}"
            model.enqueue(echo(pause))
            try:
                await chat.run_turn(session, message)
            except Exception as exc:
                log.errors.append(f"{message}: {type(exc).__name__}: {exc}")
                continue
            log.seen.append(seen(session.info.id, message, model.last_call))
    log.finished = time.time()
    return log


async def sdk_worker(path: str, session_id: str, tag: str, turns: int) -> WorkerLog:
    """Run ``turns`` turns through the SDK's ``Runner.run`` on its ``SQLiteSession``."""
    session = SQLiteSession(session_id, path, session_settings=SessionSettings(limit=HISTORY))
    model = ScriptedModel()
    agent: Agent[None] = Agent(name="worker", model=model)
    config = RunConfig(tracing_disabled=True)
    log = WorkerLog(started=time.time())
    try:
        for n in range(turns):
            message = f"{tag}-{n}"
            model.enqueue(echo())
            try:
                await Runner.run(agent, message, session=session, run_config=config)
            except Exception as exc:
                log.errors.append(f"{message}: {type(exc).__name__}: {exc}")
                continue
            log.seen.append(seen(session_id, message, model.last_call))
    finally:
        session.close()
    log.finished = time.time()
    return log


def worker_main(spec: dict[str, Any]) -> None:
    """A worker process: run the turns ``spec`` describes and write the log to its file."""
    if spec["kind"] == "sdk":
        log = asyncio.run(sdk_worker(spec["db"], spec["sessions"][0], spec["tag"], spec["turns"]))
    else:
        with open_store(spec["db"]) as store:
            sessions = [history_session(store, spec["user"], s) for s in spec["sessions"]]
            log = asyncio.run(memchat_worker(sessions, spec["tag"], spec["turns"]))
    Path(spec["out"]).write_text(json.dumps(asdict(log)))


# -- the check -------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What the check found in one scenario."""

    turns: int = 0
    lost: int = 0
    duplicated: int = 0
    interleaved: int = 0
    # Of the interleaved turns, those not stored whole (the rest saw a stale history).
    split: int = 0
    errors: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.interleaved == self.errors == 0

    def note(self, problem: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(problem)


def check(histories: dict[str, list[Item]], logs: Sequence[WorkerLog]) -> Verdict:
    """Check stored histories (session id -> items) against what the workers logged."""
    verdict = Verdict(errors=sum(len(log.errors) for log in logs))
    for log in logs:
        for error in log.errors:
            verdict.note(error)
    context = {(s["session"], s["message"]): s["context"] for log in logs for s in log.seen}
    for session_id, items in histories.items():
        texts = texts_of(items)
        starts = [i for i, item in enumerate(items) if is_user_message(item)] + [len(items)]
        stored: Counter[str] = Counter()
        for start, end in itertools.pairwise(starts):
            message = texts[start]
            stored[message] += 1
            verdict.turns += 1
            whole = texts[start:end] == [message, f"echo: {message}"]
            fresh = context.get((session_id, message)) == digest(texts[:start][-HISTORY:])
            if not (whole and fresh):
                verdict.interleaved += 1
                verdict.split += not whole
                verdict.note(f"{session_id}: {message!r} is {'stale' if whole else 'mixed'}")
        verdict.duplicated += sum(count - 1 for count in stored.values())
        for (session, message), _ in context.items():
            if session == session_id and message not in stored:
                verdict.lost += 1
                verdict.note(f"{session_id}: {message!r} acknowledged but not stored")
    return verdict


def memchat_histories(
    location: str, user: str, session_ids: Sequence[str]
) -> dict[str, list[Item]]:
    """The stored items of each of ``user``'s sessions."""
    with open_store(location) as store:
        return {s: store.get_items(store.get_session(user, s)) for s in session_ids}


async def sdk_history(path: str, session_id: str) -> list[Item]:
    """The items an SDK ``SQLiteSession`` holds."""
    session = SQLiteSession(session_id, path)
    try:
        return await session.get_items()
    finally:
        session.close()


# -- scenarios -------------------------------------------------------------------------------


def run_workers(
    kind: str, location: str, user: str, plan: Sequence[Sequence[str]], turns: int
) -> tuple[list[WorkerLog], float]:
    """Start one worker process per entry of ``plan`` (its sessions) and wait for all."""
    with tempfile.TemporaryDirectory(prefix="memchat-concurrency-") as scratch:
        outs = [Path(scratch) / f"worker{k}.json" for k in range(len(plan))]
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    json.dumps(
                        {
                            "kind": kind,
                            "db": location,
                            "user": user,
                            "sessions": list(sessions),
                            "tag": f"p{k}",
                            "turns": turns,
                            "out": str(out),
                        }
                    ),
                ],
                stderr=subprocess.PIPE,
            )
            for k, (sessions, out) in enumerate(zip(plan, outs, strict=True))
        ]
        failures = [p.communicate()[1].decode(errors="replace") for p in processes]
        logs = []
        for process, out, stderr in zip(processes, outs, failures, strict=True):
            if process.returncode == 0 and out.exists():
                logs.append(WorkerLog(**json.loads(out.read_text())))
            else:
                logs.append(WorkerLog(errors=[f"worker failed: {stderr.strip()[-2000:]}"]))
    return logs, writing_seconds(logs)


def writing_seconds(logs: Sequence[WorkerLog]) -> float:
    """From the first worker's first turn to the last one's last turn (not start-up)."""
    spans = [(log.started, log.finished) for log in logs if log.finished]
    return max(end for _, end in spans) - min(start for start, _ in spans) if spans else 0.0


def memchat_scenario(
    location: str, procs: int, turns: int, *, shared: bool, own: bool = False
) -> Verdict:
    """Run memchat workers: in one shared session, in their own, or (both) in each in turn."""
    user = f"concurrency-{secrets.token_hex(3)}"
    plan = [(["shared"] if shared else []) + ([f"own-{k}"] if own else []) for k in range(procs)]
    session_ids = sorted({s for sessions in plan for s in sessions})
    with open_store(location) as store:
        # Created up front: Store.ensure_session is not atomic across processes.
        for session_id in session_ids:
            store.ensure_session(user, session_id)
    logs, seconds = run_workers("memchat", location, user, plan, turns)
    verdict = check(memchat_histories(location, user, session_ids), logs)
    verdict.seconds = seconds
    return verdict


def sdk_scenario(path: str, procs: int, turns: int) -> Verdict:
    """Run SDK workers sharing one ``SQLiteSession``."""
    asyncio.run(sdk_history(path, "shared"))  # creates the tables before the workers race
    logs, seconds = run_workers("sdk", path, "", [["shared"]] * procs, turns)
    verdict = check({"shared": asyncio.run(sdk_history(path, "shared"))}, logs)
    verdict.seconds = seconds
    return verdict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=8, help="worker processes")
    parser.add_argument("--turns", type=int, default=500, help="turns per worker")
    parser.add_argument("--db", help="database path or URL (default: fresh temporary files)")
    parser.add_argument("--no-sdk", action="store_true", help="skip the SDK comparison")
    parser.add_argument("--json", action="store_true", help="end with a JSON summary line")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return 0
    results: dict[str, Verdict] = {}
    with tempfile.TemporaryDirectory(prefix="memchat-concurrency-") as scratch:
        for name, shared in (("one session", True), ("separate sessions", False)):
            location = args.db or str(Path(scratch) / f"{name.replace(' ', '-')}.db")
            results[name] = memchat_scenario(
                location, args.procs, args.turns, shared=shared, own=not shared
            )
        if not args.no_sdk:
            sdk_path = str(Path(scratch) / "sdk.db")
            results["SDK SQLiteSession, one session"] = sdk_scenario(
                sdk_path, args.procs, args.turns
            )
    print(f"{args.procs} processes x {args.turns} turns each")
    print("| scenario | turns | lost | duplicated | interleaved (split) | errors | turns/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, v in results.items():
        rate = v.turns / v.seconds if v.seconds else 0.0
        print(
            f"| {name} | {v.turns:,} | {v.lost} | {v.duplicated} | {v.interleaved} ({v.split}) "
            f"| {v.errors} | {rate:,.0f} |"
        )
        for problem in v.problems[:3]:
            print(f"    e.g. {problem}")
    if args.json:
        summary = {name: asdict(v) | {"problems": v.problems[:3]} for name, v in results.items()}
        print(json.dumps(summary))
    memchat_clean = all(v.clean for name, v in results.items() if not name.startswith("SDK"))
    return 0 if memchat_clean else 1


if __name__ == "__main__":
    sys.exit(main())
