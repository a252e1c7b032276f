"""Per-user caps on what piles up: sessions and facts (MEMCHAT_MAX_SESSIONS, MEMCHAT_MAX_FACTS).

Model turns have their own limit (``rates.py``); these keep one user from filling the
database (one client made 5,000 sessions and 5,000 facts of 1 KB in 9 s). Every backend
counts in the transaction that adds, on PostgreSQL after locking the user's row so that
two requests at once cannot both take the last place, and asks :meth:`Quotas.check`: over
a cap it raises QuotaExceeded, the transaction is rolled back, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import QuotaExceeded

Kind = Literal["sessions", "facts"]

_SETTING = {"sessions": "MEMCHAT_MAX_SESSIONS", "facts": "MEMCHAT_MAX_FACTS"}


@dataclass(frozen=True)
class Quotas:
    """The most sessions and facts one user may have."""

    sessions: int = 10_000
    facts: int = 1_000

    def check(self, kind: Kind, user: str, count: int) -> None:
        """Raise QuotaExceeded if ``user`` would have ``count`` of ``kind``, over the cap."""
        cap = self.sessions if kind == "sessions" else self.facts
        if count > cap:
            raise QuotaExceeded(
                f"{user!r} may have at most {cap:,} {kind} ({_SETTING[kind]}), and this"
                f" would make {count:,}: delete some first"
            )
