"""The PostgreSQL backend, through a psycopg 3 connection pool (``memchat[postgres]``).

The same module names as ``store/sqlite/``: ``store`` (the class), ``sessions`` (users,
sessions, and ``write_session``, which writes a whole one), ``turns``, ``schema``
(migrations), ``memory`` (facts, summaries), ``auth`` (tokens, admins, rates), ``search``
and ``index`` (full-text search), ``sealing`` (encryption at rest), ``locks`` (turn locks:
advisory locks). Only PostgreSQL has ``pool`` (connections, and writes as
``write(work)``), ``url`` and ``copy`` (``memchat migrate``).
"""

from .store import PostgresStore

__all__ = ["PostgresStore"]
