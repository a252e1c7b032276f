"""The SQLite backend: one database file in WAL mode (the default store).

The same module names as ``store/postgres/``: ``store`` (the class), ``sessions`` (users,
sessions, and ``write_session``, which writes a whole one), ``turns``, ``schema``
(migrations), ``memory`` (facts, summaries), ``auth`` (tokens, admins, rates), ``search``
and ``index`` (full-text search), ``sealing`` (encryption at rest), ``locks`` (turn locks:
per-session file locks across processes). Only SQLite has ``database`` (its connection,
and writes as ``write(work)``), ``stats`` (word statistics for ranking) and ``blind`` (a
keyed index for encrypted stores).
"""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
