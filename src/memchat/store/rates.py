"""Per-user rate limits on model turns, as the generic cell rate algorithm (GCRA).

A limit of ``turns`` per ``seconds`` lets a user send a burst of up to ``turns`` at once
and then one every ``seconds / turns``. The whole state of a user is one number, the
"theoretical arrival time" (TAT): when their slots would be all free again if they sent
at the full rate. The store keeps it per user (table ``rate_limits``) and updates it in
one transaction, so every server process on one database enforces one limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

# Each unit's length in seconds, by every name MEMCHAT_RATE_LIMIT accepts; its full name.
_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_UNITS |= {name: size for size, name in _NAMES.items()}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+?)s?\s*$", re.I)


@dataclass(frozen=True)
class RateLimit:
    """At most ``turns`` model turns per ``seconds``, per user."""

    turns: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.turns} turns per {_NAMES[int(self.seconds)]}"

    def take(self, tat: float | None, now: float) -> tuple[float | None, float]:
        """The new TAT if a turn at ``now`` is allowed (else None), and the seconds to wait
        before one is (0 when allowed)."""
        interval = self.seconds / self.turns
        start = max(tat or now, now)
        wait = start + interval - (now + self.seconds)
        if wait > 0:
            return None, wait
        return start + interval, 0.0


def parse_rate(text: str | None) -> RateLimit | None:
    """``"30/minute"`` (or second, hour, day; ``30/min``, ``30/h``) as a limit; None for
    unset, "" or "off"."""
    if text is None or text.strip().lower() in ("", "off", "none"):
        return None
    match = _RATE.match(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"MEMCHAT_RATE_LIMIT: expected turns per unit, like 30/minute or 500/day; got {text!r}"
        )
    return RateLimit(int(match.group(1)), unit)
