"""Nothing lost, ever: killed writers and concurrent turns (short runs of the bench scripts).

bench/torture.py and bench/concurrency.py hold the workers and the checks; these tests run
them with fewer kills and turns, and check that the checks themselves catch what they must.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner
from agents.testing import ScriptedModel

from memchat.errors import SessionExists
from memchat.store import MemchatSession, SQLiteStore, Store

from .helpers import texts_of, user_message

ROOT = Path(__file__).parents[1]


def load_bench(name: str) -> ModuleType:
    """Import bench/<name>.py (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


torture = load_bench("torture")
concurrency = load_bench("concurrency")


# -- SIGKILL -------------------------------------------------------------------------------


def test_sigkilled_writers_lose_nothing(tmp_path: Path) -> None:
    """Six rounds of four writers (two sharing a session), each round ended by SIGKILL."""
    seed = random.randrange(2**32)
    db = tmp_path / "torture.db"
    args = ["--kills", "6", "--max-delay", "0.3", "--seed", str(seed), "--db", str(db), "--json"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "torture.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The seed is in every message, so a failure can be replayed with bench/torture.py.
    where = f"seed {seed}:\n{done.stdout}{done.stderr}"
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["lost"] == report["corrupt"] == report["failures"] == 0, where
    assert done.returncode == 0, where
    assert report["kills"] == 6 and report["processes_killed"] == 24, where
    # Rounds 1 and 6 kill as the writers open the store; the others after many turns.
    assert report["acknowledged"] > 0 and report["turns"] >= report["acknowledged"], where


def test_the_kill_check_catches_loss_and_half_turns(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    user, tag = "torture", "r0w0"
    info = sqlite_store.ensure_session(user, "solo-1")
    for n in range(3):
        sqlite_store.commit_turn(info, torture.turn_items(tag, n))
    acks = {(tag, n): ("solo-1", n + 1) for n in range(3)}
    assert torture.check(str(db_path), user, acks).problems == []

    acks[tag, 3] = ("solo-1", 4)  # acknowledged, never stored
    sqlite_store.commit_turn(info, torture.turn_items(tag, 4)[:1])  # a half turn
    altered = torture.turn_items(tag, 5)
    altered[1]["content"][0]["text"] += "!"  # a reply changed by a byte
    sqlite_store.commit_turn(info, altered)
    sqlite_store.commit_turn(info, torture.turn_items(tag, 0))  # a turn stored twice
    found = torture.check(str(db_path), user, acks)
    assert found.lost == 1
    assert found.corrupt >= 3
    assert any("missing" in p for p in found.problems)
    assert any("not one whole turn" in p for p in found.problems)
    assert any("stored twice" in p for p in found.problems)


# -- processes, threads and tasks ----------------------------------------------------------


def test_processes_lose_duplicate_and_interleave_nothing(db_path: Path) -> None:
    """Four processes, each alternating between one shared session and its own."""
    verdict = concurrency.memchat_scenario(str(db_path), 4, 25, shared=True, own=True)
    assert verdict.problems == []
    assert verdict.clean
    assert verdict.turns == 4 * 25 * 2


def test_the_concurrency_check_catches_interleaving() -> None:
    """Histories the SDK's session can produce: turns split by another process's turn."""
    contexts = {"a-0": [], "b-0": ["a-0"], "a-1": ["a-0", "b-0"], "a-2": []}
    log = concurrency.WorkerLog(
        seen=[
            {"session": "s", "message": m, "context": concurrency.digest(c)}
            for m, c in contexts.items()
        ]
    )
    items = [
        user_message("a-0"),
        user_message("b-0"),  # came in before a-0's reply
        {"role": "assistant", "content": "echo: a-0"},
        {"role": "assistant", "content": "echo: b-0"},
        user_message("a-1"),
        {"role": "assistant", "content": "echo: a-1"},
        user_message("a-1"),  # stored twice
        {"role": "assistant", "content": "echo: a-1"},
    ]  # and a-2 is missing
    verdict = concurrency.check({"s": items}, [log])
    assert verdict.interleaved == 4  # a-0 and b-0 mixed, both a-1 saw a stale history
    assert verdict.duplicated == 1
    assert verdict.lost == 1


def _sessions(store: Store, tag: str, shared: MemchatSession | None = None) -> list[Any]:
    """The shared session (a given object, or a fresh one) and a session of ``tag``'s own."""
    store.ensure_session("sara", "shared")
    store.ensure_session("sara", f"own-{tag}")
    return [
        shared or concurrency.history_session(store, "sara", "shared"),
        concurrency.history_session(store, "sara", f"own-{tag}"),
    ]


def _check_store(store: Store, logs: list[Any], tags: list[str]) -> Any:
    ids = ["shared", *(f"own-{tag}" for tag in tags)]
    histories = {s: store.get_items(store.get_session("sara", s)) for s in ids}
    return concurrency.check(histories, logs)


def test_threads_sharing_one_store_object(store: Store) -> None:
    """Threads, each with its own event loop, on one SQLiteStore (one connection)."""
    tags = [f"t{k}" for k in range(4)]
    sessions = {tag: _sessions(store, tag) for tag in tags}

    def work(tag: str) -> Any:
        worker = concurrency.memchat_worker(sessions[tag], tag, 15, pause=0.001)
        return asyncio.run(worker)

    with ThreadPoolExecutor(len(tags)) as pool:
        logs = list(pool.map(work, tags))
    verdict = _check_store(store, logs, tags)
    assert verdict.problems == []
    assert verdict.clean and verdict.turns == 4 * 15 * 2


@pytest.mark.parametrize("one_object", [True, False], ids=["one-session-object", "one-each"])
async def test_tasks_in_one_loop(store: Store, one_object: bool) -> None:
    """Tasks of one event loop taking turns in one session, through one object or several."""
    tags = [f"a{k}" for k in range(4)]
    store.ensure_session("sara", "shared")
    shared = concurrency.history_session(store, "sara", "shared") if one_object else None
    workers = [
        concurrency.memchat_worker(_sessions(store, tag, shared), tag, 15, pause=0.001)
        for tag in tags
    ]
    logs = await asyncio.gather(*workers)
    verdict = _check_store(store, list(logs), tags)
    assert verdict.problems == []
    assert verdict.clean and verdict.turns == 4 * 15 * 2


@pytest.mark.parametrize(
    "one_object",
    [True, False],
    ids=["one-session-object", "one-each"],
)
async def test_plain_runner_tasks_keep_every_turn_whole(store: Store, one_object: bool) -> None:
    """Plain ``Runner.run`` holds no turn lock, but each turn must still be stored whole."""
    info = store.ensure_session("sara", "shared")
    shared = MemchatSession(store, info)
    config = RunConfig(tracing_disabled=True)

    async def work(tag: str) -> None:
        model = ScriptedModel([concurrency.echo(0.002) for _ in range(5)])
        agent: Agent[None] = Agent(name="a", model=model)
        session = shared if one_object else MemchatSession(store, info)
        for n in range(5):
            await Runner.run(agent, f"{tag}-{n}", session=session, run_config=config)

    await asyncio.gather(*(work(tag) for tag in ("a", "b", "c")))
    turns = [texts_of(turn.items) for turn in store.get_turns(info)]
    assert all(turn == [turn[0], f"echo: {turn[0]}"] for turn in turns), turns
    assert sorted(turn[0] for turn in turns) == sorted(f"{t}-{n}" for t in "abc" for n in range(5))


def test_ensure_session_when_another_process_creates_it_meanwhile(db_path: Path) -> None:
    with SQLiteStore(db_path) as ours, SQLiteStore(db_path) as theirs:
        ours.ensure_user("sara")
        find = ours.find_session

        raced: list[object] = []

        def find_while_another_creates(user: str, session_id: str) -> Any:
            found = find(user, session_id)
            if not raced:  # the other process wins the race, once
                raced.append(theirs.create_session(user, session_id))
            return found

        ours.find_session = find_while_another_creates  # type: ignore[method-assign]
        try:
            info = ours.ensure_session("sara", "shared")
        except SessionExists:
            pytest.fail("ensure_session raised SessionExists for a session that exists")
        assert info.id == "shared"
