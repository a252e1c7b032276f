"""The keyed search index of an encrypted store: it finds and recalls without the words.

The search and recall contract tests also run on such a store (``store_kind`` in
conftest.py); these check what is particular to it: what the file holds, and what happens
when the key or the mode changes.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.errors import MemchatError, StoreError
from memchat.memory.context import Memory, store_recall
from memchat.store import Store, open_store

from .helpers import reply, system_notes
from .test_search import say, with_filler

pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
from memchat.store.crypto import generate_key
from memchat.store.sealing import reseal, sealable
from memchat.store.sqlite.blind import BlindTerms

SECRETS = ("lisbon", "tangier", "ferry", "xylophone")


def blind_store(db_path: Path, key: str) -> Store:
    return open_store(db_path, encryption_key=key, encrypted_search=True)


def index_terms(db_path: Path) -> set[str]:
    """The index's words (hashes in a blind index), without the rows' owners ("u1")."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT term FROM items_fts_terms").fetchall()
    return {term for (term,) in rows if not re.fullmatch(r"u\d+", term)}


def file_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*")).lower()


def write_trip(store: Store) -> None:
    with_filler(store)
    trip = store.create_session("sara", "trip", title="Lisbon trip")
    say(
        store, trip, "The ferry to Tangier leaves Lisbon at 7:40", "Noted: 7:40, the xylophone dock"
    )


async def test_search_and_recall_work_and_the_file_holds_no_word(db_path: Path) -> None:
    key = generate_key()
    model = ScriptedModel([reply("It leaves at 7:40.")])
    with blind_store(db_path, key) as store:
        write_trip(store)
        hits = store.search("sara", "ferries to tangier")
        assert [(h.session_title, h.role) for h in hits] == [("Lisbon trip", "user")]
        assert hits[0].snippet == "The [ferry] [to] [Tangier] leaves Lisbon at 7:40"
        chat = Chat(
            Agent(name="a", model=model), memory=Memory(store, 4000, recall=store_recall(store))
        )
        await chat.run_turn(store.session("sara", "new"), "When does the ferry to Tangier leave?")
    assert model.last_call is not None
    assert "user: The ferry to Tangier leaves Lisbon at 7:40" in system_notes(model.last_call.input)
    # Neither the messages nor the index's terms, nor a title, are readable in the file.
    raw = file_bytes(db_path)
    assert not [word for word in SECRETS if word.encode() in raw]
    assert not index_terms(db_path) & {"lisbon", "tangier", "ferri", "xylophon", "ferry"}


def test_a_new_key_or_mode_rebuilds_the_index(db_path: Path) -> None:
    # Written in plaintext first: the index holds the words.
    with open_store(db_path) as store:
        write_trip(store)
        assert store.search("sara", "tangier")
    assert "tangier" in index_terms(db_path)

    # Encrypted with a keyed index: the plaintext terms go, search still finds.
    old = generate_key()
    with open_store(db_path, encryption_key=old, check_sealed=False) as store:
        reseal(sealable(store))  # what `memchat encrypt` does
    with blind_store(db_path, old) as store:
        assert store.search("sara", "tangier")[0].session_id == "trip"
    assert "tangier" not in index_terms(db_path)
    hashed = index_terms(db_path)

    # A rotated key (new first, old still decrypts): the index is hashed anew.
    rotated = f"{generate_key()},{old}"
    with blind_store(db_path, rotated) as store:
        assert store.search("sara", "tangier")[0].session_id == "trip"
    assert index_terms(db_path).isdisjoint(hashed)

    # Encrypted without the keyed index: search is off and the index emptied.
    with (
        open_store(db_path, encryption_key=rotated) as store,
        pytest.raises(MemchatError, match="MEMCHAT_ENCRYPTED_SEARCH"),
    ):
        store.search("sara", "tangier")
    assert index_terms(db_path) == set()


def test_without_the_key_a_clear_error_and_the_index_is_kept(db_path: Path) -> None:
    key = generate_key()
    with blind_store(db_path, key) as store:
        write_trip(store)
        store.search("sara", "ferry")
        say(store, store.ensure_session("sara", "trip"), "one more, sealed")
    before = index_terms(db_path)
    with open_store(db_path) as store, pytest.raises(StoreError, match="set MEMCHAT_ENCRYPTION"):
        store.search("sara", "ferry")
    assert index_terms(db_path) == before
    with blind_store(db_path, key) as store:
        assert [h.session_id for h in store.search("sara", "sealed")] == ["trip"]


def test_postgresql_says_it_has_no_keyed_index() -> None:
    with pytest.raises(MemchatError, match="not yet available on PostgreSQL"):
        open_store(
            "postgresql://nobody@127.0.0.1:1/none",
            encryption_key=generate_key(),
            encrypted_search=True,
        )


def test_a_long_message_gets_a_window_around_its_first_match() -> None:
    conn = sqlite3.connect(":memory:")
    terms = BlindTerms(b"k" * 32)
    text = " ".join(f"w{n}" for n in range(100)) + " the Tangier ferry, " + "tail " * 50
    snippet = terms.snippet(conn, text, ["tangiers"], ("<", ">"), 10)
    assert snippet == "…w99 the <Tangier> ferry, tail tail tail tail tail tail…"
    assert terms.snippet(conn, "Short, and sweet.", ["sweet"], ("<", ">"), 10) == (
        "Short, and <sweet>."
    )
    # The same word always hashes the same under one key, differently under another.
    assert terms.index_text(conn, "Ferries") == terms.index_text(conn, "ferry")
    assert BlindTerms(b"j" * 32).index_text(conn, "ferry") != terms.index_text(conn, "ferry")
