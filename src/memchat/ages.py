"""Ages as people type them ("90d", "12h", "2w"), and the moment they reach back to."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import MemchatError

_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """ "90d", "12h" or "2w" as a timedelta."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([hdw])\s*", text.lower())
    if not match:
        raise MemchatError(f"invalid age {text!r}: use a number and h, d or w (e.g. 90d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def cutoff(age: str) -> str:
    """The moment ``age`` ago, as the ISO 8601 UTC text the store keeps (an age that
    reaches back before year 1, "200000w", is the start of year 1: before everything)."""
    try:
        moment = datetime.now(UTC) - parse_age(age)
    except OverflowError:
        moment = datetime.min.replace(tzinfo=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
