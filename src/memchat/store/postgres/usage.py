"""The PostgreSQL store's usage table (records: ``store/usage.py``; its rows written and
read once for both backends: ``store/usage_rows.py``)."""

from __future__ import annotations

# Keyed by the turn's first item, so the row follows the turn and goes with it.
USAGE_SCHEMA = (
    """
    CREATE TABLE turn_usage (
        item_id bigint PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        model text NOT NULL,
        requests bigint NOT NULL,
        input_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        first_token_ms bigint,
        total_ms bigint
    )
    """,
)
