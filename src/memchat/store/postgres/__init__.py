"""The PostgreSQL backend, through a psycopg 3 connection pool (``memchat[postgres]``).

The same module names as ``store/sqlite/``: ``store`` (the class, users and sessions),
``schema`` (migrations), ``memory`` (facts, summaries, tokens, admins), ``turns``,
``search`` and ``index`` (full-text search), ``sealing`` (encryption at rest). Only
PostgreSQL has ``pool`` (connections, transactions, advisory locks) and ``url``.
"""

from .store import PostgresStore

__all__ = ["PostgresStore"]
