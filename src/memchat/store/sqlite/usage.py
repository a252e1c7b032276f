"""The SQLite store's usage table (records: ``store/usage.py``; its rows written and
read once for both backends: ``store/usage_rows.py``)."""

from __future__ import annotations

# Keyed by the turn's first item, so the row follows the turn and goes with it.
USAGE_SCHEMA = (
    """
    CREATE TABLE turn_usage (
        item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        first_token_ms INTEGER,
        total_ms INTEGER
    )
    """,
)
