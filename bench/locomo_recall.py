"""Recall on LoCoMo: does ``memchat.memory.recall`` find the turns that answer a question?

Loads each LoCoMo conversation into its own fresh SQLite store (as a personal install
holds one person's history) as one memchat user (its ``sample_id``) with one memchat
session per LoCoMo session, through
``Store.import_sessions`` (so the full-text index is built by the same write path
as any turn). Each dialog turn is one message item: ``speaker_a`` speaks as the user,
``speaker_b`` as the assistant, and a new memchat turn starts at each of speaker_a's
messages. The text is the turn's text plus, for a shared image, its caption
(``[shares a photo of ...]``); the image search ``query`` field is left out (it was used
to pick the image and would leak the topic). Every turn of a session is dated with the
session's ``session_N_date_time``. The two speakers' names are passed to ``recall`` as
``speakers`` (a chat knows its user's and its agent's names); ``--no-speakers`` leaves
them out. ``--shared`` puts all conversations in one store instead, as a server's
database holds many users: bm25's term statistics are then pooled across them.

For every question of categories 1-4 (multi-hop, temporal, open-domain, single-hop;
category 5 has no evidence to retrieve) one ``recall(k=25)`` call returns 25 passages;
each passage is one message, so the first k passages cover exactly k dialog turns, and
recall@k is the fraction of the question's evidence turns among them (averaged over
questions). Latency is that call's wall time.

Malformed evidence: entries are searched for ``D<session>:<turn>`` (also in the form
``D:11:26``), so ``"D8:6; D9:17"`` gives two turns and ``"D"`` gives none; a question left
with no evidence turn is skipped (and counted); an evidence turn the conversation lacks
stays in the question's evidence and counts as missed.

    python bench/locomo_recall.py --data ../shared/data/locomo/locomo-dev.json [--json]
        [--no-speakers] [--shared]
    python bench/locomo_recall.py --data DEV.json OTHER.json ...   (side by side)

Any LoCoMo-format file works, with or without some categories (the REALTALK conversion
has no single-hop questions).

The data is CC BY-NC 4.0: it is read from where it lies, never copied into the project.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from memchat.memory.recall import recall
from memchat.store import Store, open_store
from memchat.store.base import Item, SessionRecord, Turn
from memchat.store.crypto import generate_key

KS = (5, 10, 25)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_SESSION_KEY = re.compile(r"session_(\d+)")
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


@dataclass
class Question:
    """One question of categories 1-4 and the dialog turns that answer it."""

    text: str
    category: int
    evidence: set[str]


@dataclass
class Conversation:
    """One LoCoMo conversation as memchat stores it."""

    user: str
    speakers: dict[str, str]
    records: list[SessionRecord]
    # The dia_id and indexed text of every message, in the order they are stored.
    messages: list[tuple[str, str]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    skipped: int = 0


def load(path: Path) -> list[Conversation]:
    """Every conversation of a LoCoMo file, with its questions."""
    return [_conversation(sample) for sample in json.loads(path.read_text())]


def _conversation(sample: dict[str, Any]) -> Conversation:
    talk = sample["conversation"]
    user_speaker = talk["speaker_a"]
    conv = Conversation(
        sample["sample_id"], {talk["speaker_a"]: "user", talk["speaker_b"]: "assistant"}, []
    )
    numbers = sorted(int(m[1]) for key in talk if (m := _SESSION_KEY.fullmatch(key)))
    for number in numbers:
        stamp = _iso(talk[f"session_{number}_date_time"])
        turns: list[Turn] = []
        for turn in talk[f"session_{number}"]:
            text = turn["text"] + (
                f" [shares {turn['blip_caption']}]" if "blip_caption" in turn else ""
            )
            if turn["speaker"] == user_speaker or not turns:
                turns.append(Turn(len(turns) + 1, stamp, []))
            turns[-1].items.append(_item(turn["speaker"] == user_speaker, text))
            conv.messages.append((turn["dia_id"], text))
        conv.records.append(SessionRecord(conv.user, f"session-{number}", None, stamp, {}, turns))
    for qa in sample["qa"]:
        if qa["category"] not in CATEGORIES:
            continue
        evidence = {f"D{s}:{t}" for entry in qa["evidence"] for s, t in _EVIDENCE.findall(entry)}
        if evidence:
            conv.questions.append(Question(qa["question"], qa["category"], evidence))
        else:
            conv.skipped += 1
    return conv


def _item(from_user: bool, text: str) -> Item:
    if from_user:
        return {"role": "user", "content": text}
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }  # type: ignore[return-value]


def _iso(locomo_date: str) -> str:
    """ "1:56 pm on 8 May, 2023" as the ISO 8601 text the store keeps."""
    return datetime.strptime(locomo_date, "%I:%M %p on %d %B, %Y").strftime("%Y-%m-%dT%H:%M:00Z")


def run(
    conversations: list[Conversation],
    directory: Path,
    *,
    shared: bool,
    speakers: bool,
    encrypted: bool = False,
) -> tuple[dict[int, dict[int, list[float]]], list[float], float]:
    """Store and query the conversations: recall@k by category, latencies, seconds to load."""
    groups = [conversations] if shared else [[conv] for conv in conversations]
    scores: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    latencies: list[float] = []
    load_s = 0.0
    # --encrypted: sealed at rest, searched through the keyed index (store/blind.py).
    key = generate_key() if encrypted else None
    for number, group in enumerate(groups):
        location = directory / f"locomo-{number}.db"
        with open_store(location, encryption_key=key, encrypted_search=encrypted) as store:
            start = time.perf_counter()
            dia_of = store_all(store, group)
            load_s += time.perf_counter() - start
            group_scores, group_latencies = evaluate(store, group, dia_of, speakers)
        for category, by_k in group_scores.items():
            for k, values in by_k.items():
                scores[category][k].extend(values)
        latencies.extend(group_latencies)
    return scores, latencies, load_s


def store_all(store: Store, conversations: list[Conversation]) -> dict[int, str]:
    """Import every conversation and return the dia_id of each stored message's item id."""
    dia_of: dict[int, str] = {}
    next_id = 1
    for conv in conversations:
        store.import_sessions(conv.records)
        ids = list(range(next_id, next_id + len(conv.messages)))
        next_id += len(conv.messages)
        # Item ids are assigned in insertion order in a fresh database; check, not assume.
        stored = {m.item_id: m.text for m in store.get_messages(conv.user, ids)}
        for item_id, (dia_id, text) in zip(ids, conv.messages, strict=True):
            # The index keeps a message's text stripped of surrounding blanks.
            if stored.get(item_id) != text.strip():
                raise SystemExit(f"item {item_id} is not {conv.user} {dia_id}; cannot score")
            dia_of[item_id] = dia_id
    return dia_of


def evaluate(
    store: Store, conversations: list[Conversation], dia_of: dict[int, str], speakers: bool
) -> tuple[dict[int, dict[int, list[float]]], list[float]]:
    """Recall@k of every question by category, and every recall call's latency in ms."""
    scores: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    latencies: list[float] = []
    for conv in conversations:
        names = conv.speakers if speakers else None
        for question in conv.questions:
            start = time.perf_counter()
            passages = recall(store, conv.user, question.text, k=max(KS), speakers=names)
            latencies.append((time.perf_counter() - start) * 1000)
            found = [dia_of[p.item_id] for p in passages]
            for k in KS:
                hit = len(question.evidence & set(found[:k])) / len(question.evidence)
                scores[question.category][k].append(hit)
                scores[0][k].append(hit)
    return scores, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        nargs="+",
        help="LoCoMo-format JSON files; several are compared side by side (dev first)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--no-speakers", action="store_true", help="do not tell recall the speakers' names"
    )
    parser.add_argument("--shared", action="store_true", help="all conversations in one store")
    parser.add_argument(
        "--encrypted", action="store_true", help="encrypted stores with the keyed search index"
    )
    args = parser.parse_args()
    results = [_report(path, args) for path in args.data]
    if len(results) > 1:
        print("\nside by side (a gap between files is what tuning fitted to the first):")
        print(f"{'file':<28}" + "".join(f"{f'R@{k}':>8}" for k in KS) + f"{'p95 ms':>8}")
        for path, result in zip(args.data, results, strict=True):
            cells = "".join(f"{result[f'recall@{k}']:>8.1f}" for k in KS)
            print(f"{path.name[:27]:<28}{cells}{result['p95_ms']:>8.2f}")
    if args.json:
        line: object = results[0] if len(results) == 1 else results
        sys.stdout.write(json.dumps(line) + "\n")


def _report(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one file, print its table, return its JSON result."""
    conversations = load(path)
    with tempfile.TemporaryDirectory() as tmp:
        scores, latencies, load_s = run(
            conversations,
            Path(tmp),
            shared=args.shared,
            speakers=not args.no_speakers,
            encrypted=args.encrypted,
        )
    skipped = sum(conv.skipped for conv in conversations)
    stored = sum(len(conv.messages) for conv in conversations)
    print(
        f"{path.name}: {len(conversations)} conversations, {stored} dialog turns stored in"
        f" {load_s:.2f} s; {len(scores[0][KS[0]])} questions (categories 1-4),"
        f" {skipped} without evidence skipped"
    )
    print(f"{'category':<14}{'n':>6}" + "".join(f"{f'R@{k}':>8}" for k in KS))
    for category in (*CATEGORIES, 0):
        name = CATEGORIES.get(category, "overall")
        row = scores[category]
        if not row[KS[0]]:  # a file without this category (REALTALK has no single-hop)
            continue
        cells = "".join(f"{100 * statistics.mean(row[k]):>8.1f}" for k in KS)
        print(f"{name:<14}{len(row[KS[0]]):>6}{cells}")
    quantiles = statistics.quantiles(latencies, n=100)
    p50, p95 = quantiles[49], quantiles[94]
    print(f"recall latency: p50 {p50:.2f} ms, p95 {p95:.2f} ms (k={max(KS)})")
    result: dict[str, Any] = {
        f"recall@{k}": round(100 * statistics.mean(scores[0][k]), 1) for k in KS
    }
    result |= {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
    if len(args.data) > 1:
        result["data"] = path.name
    return result


if __name__ == "__main__":
    main()
