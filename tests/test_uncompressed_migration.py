"""Migration 0014_uncompressed_text on a PostgreSQL database made before it.

PostgreSQL compresses a long value, and a compressed value's bytes are not its words, so
verified forgetting's byte scan could not see it. The migration stores memchat's text
columns uncompressed and rewrites the values compressed before, byte for byte the same.
"""

from __future__ import annotations

import json

from memchat.store import open_store

from .pg import migrated_before

T0 = "2026-01-01T00:00:00.000000Z"


def test_postgres_0014_rewrites_compressed_text_uncompressed(pg_url: str) -> None:
    data = json.dumps({"role": "user", "content": "a long paste, line after line. " * 400})
    with migrated_before(pg_url, "0014") as conn:
        with conn.transaction():
            conn.execute("INSERT INTO users (id, name, created_at) VALUES (1, 'sara', %s)", (T0,))
            conn.execute(
                "INSERT INTO sessions (id, user_id, key, created_at, updated_at, turn_count,"
                " last_seq) VALUES (1, 1, 's1', %s, %s, 1, 1)",
                (T0, T0),
            )
            conn.execute(
                "INSERT INTO items (id, session_id, seq, created_at, data)"
                " VALUES (1, 1, 1, %s, %s)",
                (T0, data),
            )
        compressed = "SELECT pg_column_compression(data) IS NOT NULL FROM items WHERE id = 1"
        assert conn.execute(compressed).fetchone() == (True,)
    with open_store(pg_url) as store:
        rows = store._db.read(  # type: ignore[attr-defined]
            lambda conn: conn.execute(
                "SELECT pg_column_compression(data) IS NOT NULL, data = %s FROM items",
                (data,),
            ).fetchall()
        )
        assert rows == [(False, True)]
        storage = store._db.read(  # type: ignore[attr-defined]
            lambda conn: conn.execute(
                "SELECT attname, attstorage FROM pg_attribute"
                " WHERE attrelid = 'items'::regclass AND attname = 'data'"
            ).fetchall()
        )
        assert storage == [("data", "e")]
