"""Manual check of the embedded model: does it answer memory questions as the user?

A small model given what the user said about themselves tends to repeat it as its own
("What's my name?" -> "My name is Xavier"). This tells memchat a short scripted history
(ten facts about one user, with scripted replies, stored and learned as a chat stores
them), then asks 20 fixed memory questions through memchat's own turn path (``Chat`` from
the settings, the embedded model, its memory budget), each in a copy of that store so no
answer sees another:

- ``same``: as the next turn of the session that told the facts;
- ``new``: as the first turn of a new session (what ``memchat ask --new`` does), where the
  facts and the earlier conversation come from memory.

The rule for a first-person answer (``first_person``): with quoted text left out, the
reply says "I", "my", "mine", "myself" or "me", other than in what an assistant says of
itself and its memory ("I remember", "I know", "I don't know", "I have no", "I'm sorry",
"I'm not sure", "I can", "I'll", "let me", "you told me", ... listed in ``_ITSELF``).

    python bench/first_person.py [--data-dir DIR] [--where same,new] [--seeds 1] [--json]

The goal is at most 1 first-person answer of the 20 in each place. Each answer is also
checked for the fact asked about (a word of it, ``QUESTIONS``), so that fewer first-person
answers are not bought with wrong ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.model_settings import ModelSettings

from memchat.chat import Chat
from memchat.config import Settings, load_settings
from memchat.models import ModelChoice, resolve_model
from memchat.models.weights import ensure_default_model
from memchat.store import SQLiteStore

USER = "xavier"
HISTORY = (
    ("Hi, my name is Xavier.", "Nice to meet you, Xavier!"),
    ("I work as a nurse at the city hospital.", "That sounds like demanding work."),
    ("I have two cats, Miso and Pixel.", "Miso and Pixel are lovely names."),
    ("My favourite colour is teal.", "Teal is a calm colour."),
    ("I live in Porto.", "Porto is a beautiful city."),
    ("I play the cello on weekends.", "The cello has a wonderful sound."),
    ("My sister Ana visits me next week.", "I hope you enjoy her visit."),
    ("I'm allergic to peanuts.", "Thanks for telling me; I'll keep that in mind."),
    ("My favourite food is ramen.", "Ramen is a great choice."),
    ("I was born in 1991.", "Noted."),
)
# Each question and the words one of which a right answer holds (lower case).
ANY_FACT = (
    "xavier", "nurse", "hospital", "cat", "miso", "pixel", "teal", "porto", "cello",
    "ana", "peanut", "ramen", "1991",
)  # fmt: skip
QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What's my name?", ("xavier",)),
    ("What do you know about me?", ANY_FACT),
    ("What is my job?", ("nurse",)),
    ("Where do I work?", ("hospital",)),
    ("Do I have any pets?", ("cat", "miso", "pixel")),
    ("What are my cats called?", ("miso", "pixel")),
    ("What's my favourite colour?", ("teal",)),
    ("Where do I live?", ("porto",)),
    ("When was I born?", ("1991",)),
    ("Who is visiting me next week?", ("ana",)),
    ("What instrument do I play?", ("cello",)),
    ("What am I allergic to?", ("peanut",)),
    ("What's my favourite food?", ("ramen",)),
    ("Tell me about myself.", ANY_FACT),
    ("Who am I?", ("xavier",)),
    ("What do I do on weekends?", ("cello",)),
    ("What is my sister's name?", ("ana",)),
    ("What have I told you about my work?", ("nurse", "hospital")),
    ("Summarize what you remember about me.", ANY_FACT),
    ("Describe me in one sentence.", ANY_FACT),
)
GOAL = 1

_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
# The assistant's own words about itself and its memory, which are not counted.
_ITSELF = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|not sure|glad|happy|afraid|unable|an? (?:AI|assistant))"
    r"|I (?:remember|recall|know|noted|understand|see|hope|think|believe|can|cannot|will|would)"
    r"|I (?:don't|do not|can't|have no|have not|haven't)"
    r"|I(?:'ll|'d)"
    r"|(?:let|tell|give|show|ask|told|to|with) me)\b",
    re.IGNORECASE,
)
_FIRST = re.compile(r"\b(?:I|my|mine|myself|me)\b", re.IGNORECASE)


def first_person(reply: str) -> bool:
    """Whether ``reply`` speaks as the user (the module's stated rule)."""
    text = _ITSELF.sub("", _QUOTED.sub("", reply).replace("\u2019", "'"))
    return _FIRST.search(text) is not None


def chat_on(store: SQLiteStore, settings: Settings, choice: ModelChoice, seed: int) -> Chat:
    """memchat's chat on ``store``, as the settings make it, sampling with ``seed``."""
    chat = Chat.from_settings(settings, choice, store)
    seeded = chat.agent.clone(model_settings=ModelSettings(extra_args={"seed": seed}))
    return replace(chat, agent=seeded)


def build_history(path: Path, settings: Settings, choice: ModelChoice) -> None:
    """Store the scripted history as one session and learn its facts, as a chat does."""
    with SQLiteStore(path) as store:
        memory = chat_on(store, settings, choice, 0).memory
        assert memory is not None
        info = store.ensure_session(USER, "told")
        for said, answered in HISTORY:
            seq = store.commit_turn(
                info,
                [
                    {"role": "user", "content": said},
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": answered, "annotations": []}],
                    },
                ],
            )
            memory.learn(info, said, seq)


async def ask(
    settings: Settings, choice: ModelChoice, seed: int, template: Path, where: str, question: str
) -> str:
    """Ask ``question`` in a fresh copy of the stored history and return the reply."""
    path = template.with_name("ask.db")
    shutil.copyfile(template, path)
    try:
        with SQLiteStore(path) as store:
            chat = chat_on(store, settings, choice, seed)
            session = store.session(USER, "told" if where == "same" else "asked")
            return (await chat.run_turn(session, question)).reply
    finally:
        for suffix in ("", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Tell the history once, then ask every question in every place, per seed."""
    ensure_default_model(args.data_dir)
    env = {"MEMCHAT_HOME": str(args.data_dir), "MEMCHAT_MODEL": "local"}
    settings = load_settings(env=env, dotenv_path=args.data_dir / "no.env")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = work / "history.db"
        choice = resolve_model(settings)
        build_history(template, settings, choice)
        for seed in args.seeds:
            for where in args.where:
                for question, right in QUESTIONS:
                    start = time.perf_counter()
                    reply = await ask(settings, choice, seed, template, where, question)
                    rows.append(
                        {
                            "seed": seed,
                            "where": where,
                            "question": question,
                            "reply": reply,
                            "first_person": first_person(reply),
                            "right": any(word in reply.lower() for word in right),
                            "s": round(time.perf_counter() - start, 2),
                        }
                    )
                    if not args.json:
                        mark = "FIRST" if rows[-1]["first_person"] else "ok   "
                        mark += " right" if rows[-1]["right"] else " WRONG"
                        short = " ".join(reply.split())[:90]
                        print(f"{seed} {where:<4} {mark} {question:<38} {short}", flush=True)
    runs = [(where, seed) for seed in args.seeds for where in args.where]
    counts = {
        f"{where} seed {seed}": sum(
            row["first_person"] for row in rows if (row["where"], row["seed"]) == (where, seed)
        )
        for where, seed in runs
    }
    right = {
        f"{where} seed {seed}": sum(
            row["right"] for row in rows if (row["where"], row["seed"]) == (where, seed)
        )
        for where, seed in runs
    }
    return {
        "counts": counts,
        "right": right,
        "goal_met": all(n <= GOAL for n in counts.values()),
        "load_average": os.getloadavg(),
        "rows": rows,
    }


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MEMCHAT_DATA_DIR", "~/.cache/memchat-bench")).expanduser(),
        help="where the assembled model file is kept (default: $MEMCHAT_DATA_DIR)",
    )
    parser.add_argument("--where", type=lambda s: s.split(","), default=["same", "new"])
    parser.add_argument(
        "--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1], help="e.g. 1,2,3"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def main() -> int:
    """Run the bench; exit 1 when more than GOAL answers of 20 are in the first person."""
    args = parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for name, count in report["counts"].items():
            print(
                f"{name}: first-person answers {count} of {len(QUESTIONS)},"
                f" answers holding the fact {report['right'][name]} of {len(QUESTIONS)}"
            )
        print(f"load average after: {report['load_average'][0]:.2f}")
    return 0 if report["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
