"""Where the SQLite store's facts came from, and what they were before.

A fact learned from a turn (*traced*) names that turn's user message in ``fact_sources``;
saying it again adds a source. A new value moves the old one, with its sources, to
``fact_history`` (valid from, valid to). Forgetting cascades through the schema: when a
message is deleted (undo, clear, session or user deleted, prune), its source rows go with
it, and a traced fact left with no source falls back to its latest earlier value that
still stands, or is deleted; a summary that covered the message is dropped, to be made
again from what is left. A fact set by hand, through the API or by import has no source
message and stays until forgotten.
"""

from __future__ import annotations

import sqlite3

from ..codec import fact_from_row
from ..crypto import Cipher, seal, unseal
from ..records import Fact, FactSource, FactVersion

# The earlier value a sourceless fact falls back to: the newest one still standing
# (untraced, or with a source message left).
_STANDING = """
    SELECT h.id FROM fact_history h, facts f
    WHERE f.id = old.fact_id AND h.user_id = f.user_id AND h.key = f.key
      AND (h.traced = 0 OR EXISTS (SELECT 1 FROM fact_history_sources hs
                                   JOIN items i ON i.id = hs.item_id
                                   WHERE hs.history_id = h.id))
    ORDER BY h.valid_to DESC, h.id DESC LIMIT 1
"""

PROVENANCE_SCHEMA = (
    "ALTER TABLE facts ADD COLUMN traced INTEGER NOT NULL DEFAULT 0",
    # NULL for a fact stored before provenance: valid since it was created.
    "ALTER TABLE facts ADD COLUMN valid_from TEXT",
    """
    CREATE TABLE fact_sources (
        fact_id INTEGER NOT NULL REFERENCES facts (id) ON DELETE CASCADE,
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (fact_id, item_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX fact_sources_by_item ON fact_sources (item_id)",
    """
    CREATE TABLE fact_history (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        source TEXT NOT NULL,
        traced INTEGER NOT NULL,
        valid_from TEXT NOT NULL,
        valid_to TEXT NOT NULL
    )
    """,
    "CREATE INDEX fact_history_by_key ON fact_history (user_id, key, valid_to)",
    """
    CREATE TABLE fact_history_sources (
        history_id INTEGER NOT NULL REFERENCES fact_history (id) ON DELETE CASCADE,
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (history_id, item_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX fact_history_sources_by_item ON fact_history_sources (item_id)",
    f"""
    CREATE TRIGGER fact_loses_sources AFTER DELETE ON fact_sources
    WHEN (SELECT traced FROM facts WHERE id = old.fact_id) = 1
     AND NOT EXISTS (SELECT 1 FROM fact_sources WHERE fact_id = old.fact_id)
    BEGIN
        INSERT INTO fact_sources (fact_id, item_id)
            SELECT old.fact_id, hs.item_id FROM fact_history_sources hs
            JOIN items i ON i.id = hs.item_id WHERE hs.history_id = ({_STANDING});
        UPDATE facts SET (value, source, traced, valid_from, updated_at) = (
            SELECT h.value, h.source, h.traced, h.valid_from, h.valid_from
            FROM fact_history h WHERE h.id = ({_STANDING}))
            WHERE id = old.fact_id AND ({_STANDING}) IS NOT NULL;
        DELETE FROM fact_history WHERE id = ({_STANDING});
        DELETE FROM facts WHERE id = old.fact_id AND traced = 1
            AND NOT EXISTS (SELECT 1 FROM fact_sources WHERE fact_id = old.fact_id);
    END
    """,
    """
    CREATE TRIGGER fact_history_loses_sources AFTER DELETE ON fact_history_sources
    WHEN (SELECT traced FROM fact_history WHERE id = old.history_id) = 1
     AND NOT EXISTS (SELECT 1 FROM fact_history_sources WHERE history_id = old.history_id)
    BEGIN
        DELETE FROM fact_history WHERE id = old.history_id;
    END
    """,
    """
    CREATE TRIGGER summary_loses_turn AFTER DELETE ON items
    BEGIN
        DELETE FROM summaries WHERE session_id = old.session_id AND through_seq >= old.seq;
    END
    """,
)

_FACT = "id, key, value, source, updated_at, valid_from, project"


def record_fact(
    conn: sqlite3.Connection,
    cipher: Cipher | None,
    owner: tuple[int, str],
    key: str,
    value: str,
    source: str,
    item_id: int | None,
    stamp: str,
) -> Fact:
    """Set ``key`` to ``value`` for ``owner`` (the user's row id, and the project: "" for
    user-wide), taught by the message ``item_id`` (None: by hand, the API or an import),
    keeping what it replaces."""
    user_id, project = owner
    old = conn.execute(
        "SELECT id, value, source, traced, coalesce(valid_from, created_at) FROM facts"
        " WHERE user_id = ? AND project = ? AND key = ?",
        (user_id, project, key),
    ).fetchone()
    traced = item_id is not None
    if old is None:
        row = conn.execute(
            f"INSERT INTO facts (user_id, project, key, value, source, created_at, updated_at,"
            f" traced, valid_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_FACT}",
            (user_id, project, key, seal(cipher, value), source, stamp, stamp, traced, stamp),
        ).fetchone()
    else:
        fact_id, sealed, old_source, old_traced, valid_from = old
        if unseal(cipher, sealed) == value:
            # Said again: one more source; a value also set by hand is no longer traced.
            traced = traced and bool(old_traced)
            row = conn.execute(
                f"UPDATE facts SET source = ?, updated_at = ?, traced = ? WHERE id = ?"
                f" RETURNING {_FACT}",
                (source, stamp, traced, fact_id),
            ).fetchone()
        else:
            history_id = conn.execute(
                "INSERT INTO fact_history (user_id, project, key, value, source, traced,"
                " valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (user_id, project, key, sealed, old_source, old_traced, valid_from, stamp),
            ).fetchone()[0]
            # Untraced first, so that moving the sources away drops nothing.
            row = conn.execute(
                f"UPDATE facts SET value = ?, source = ?, updated_at = ?, traced = 0,"
                f" valid_from = ? WHERE id = ? RETURNING {_FACT}",
                (seal(cipher, value), source, stamp, stamp, fact_id),
            ).fetchone()
            conn.execute(
                "INSERT INTO fact_history_sources (history_id, item_id)"
                " SELECT ?, item_id FROM fact_sources WHERE fact_id = ?",
                (history_id, fact_id),
            )
            conn.execute("DELETE FROM fact_sources WHERE fact_id = ?", (fact_id,))
            conn.execute("UPDATE facts SET traced = ? WHERE id = ?", (traced, fact_id))
    if item_id is not None:
        conn.execute(
            "INSERT INTO fact_sources (fact_id, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (row[0], item_id),
        )
    return fact_from_row(row, cipher)


def turn_item(conn: sqlite3.Connection, session_pk: int, seq: int) -> int | None:
    """The id of turn ``seq``'s user message (its first item), or None if it is gone."""
    row = conn.execute(
        "SELECT min(id) FROM items WHERE session_id = ? AND seq = ?", (session_pk, seq)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def sources_of(conn: sqlite3.Connection, user: str) -> dict[int, list[FactSource]]:
    """Each of the user's facts' source messages, by fact id, oldest first."""
    rows = conn.execute(
        "SELECT fs.fact_id, s.key, i.seq, i.id FROM fact_sources fs"
        " JOIN facts f ON f.id = fs.fact_id JOIN users u ON u.id = f.user_id"
        " JOIN items i ON i.id = fs.item_id JOIN sessions s ON s.id = i.session_id"
        " WHERE u.name = ? ORDER BY fs.fact_id, i.id",
        (user,),
    ).fetchall()
    found: dict[int, list[FactSource]] = {}
    for fact_id, session_id, seq, item_id in rows:
        found.setdefault(fact_id, []).append(FactSource(session_id, seq, item_id))
    return found


_WHICH = " WHERE u.name = ? AND (? IS NULL OR h.key = ?) AND (? IS NULL OR h.project = ?)"


def history_of(
    conn: sqlite3.Connection,
    cipher: Cipher | None,
    user: str,
    key: str | None,
    project: str | None,
) -> list[FactVersion]:
    """The earlier values of ``key`` (None: of every key) in ``project`` (None: in any),
    oldest first."""
    which = (user, key, key, project, project)
    rows = conn.execute(
        "SELECT h.id, h.key, h.value, h.source, h.valid_from, h.valid_to, h.project"
        f" FROM fact_history h JOIN users u ON u.id = h.user_id{_WHICH}"
        " ORDER BY h.valid_to, h.id",
        which,
    ).fetchall()
    sources = conn.execute(
        "SELECT hs.history_id, s.key, i.seq, i.id FROM fact_history_sources hs"
        " JOIN fact_history h ON h.id = hs.history_id JOIN users u ON u.id = h.user_id"
        f" JOIN items i ON i.id = hs.item_id JOIN sessions s ON s.id = i.session_id{_WHICH}"
        " ORDER BY i.id",
        which,
    ).fetchall()
    by_version: dict[int, list[FactSource]] = {}
    for history_id, session_id, seq, item_id in sources:
        by_version.setdefault(history_id, []).append(FactSource(session_id, seq, item_id))
    return [
        FactVersion(
            name,
            unseal(cipher, value),
            source,
            start,
            end,
            tuple(by_version.get(hid, ())),
            place,
        )
        for hid, name, value, source, start, end, place in rows
    ]


def forget_history(conn: sqlite3.Connection, user_id: int, project: str, key: str) -> int:
    """Delete every earlier value of ``key`` in ``project``; return how many there were."""
    return conn.execute(
        "DELETE FROM fact_history WHERE user_id = ? AND project = ? AND key = ?",
        (user_id, project, key),
    ).rowcount
