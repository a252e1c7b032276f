"""Dates a message names ("on 3 June, 2023", "in July", "2024-01-05"), for recall.

``take_dates`` finds them and blanks them out of the text (so "may" or "2023" are not
searched for as words); ``date_fit`` says how close a message's date is to the best of them.
"""

from __future__ import annotations

import math
import re
from datetime import date

# A message said on a date the query names fits 1.0, falling off by a factor e for every
# this many days away from it.
DATE_SCALE_DAYS = 10.0

_MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
_MONTHS = {
    name: number
    for number, month in enumerate(_MONTH_NAMES.split(), 1)
    for name in (month, month[:3])
}
_MONTHS["sept"] = 9
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
# Most specific first; each match is blanked out before the next pattern looks.
_DATE_PATTERNS = (
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b"), "dmy"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(\d{{4}})\b"), "mdy"),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ynd"),
    (re.compile(rf"\b{_MONTH},?\s+(\d{{4}})\b"), "my"),
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}"), "dm"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY}\b"), "md"),
    # A bare month name only after a preposition: "may" alone is usually a verb.
    (re.compile(rf"\b(?:in|during|since|before|after|early|late|mid|last|this)\s+{_MONTH}\b"), "m"),
    (re.compile(r"\b((?:19|20)\d{2})\b"), "y"),
)

DateRef = tuple[int | None, int | None, int | None]
"""A date a query names: (year, month, day), None where it does not say."""


def take_dates(query: str) -> tuple[str, list[DateRef]]:
    """The query with the dates it names blanked out, and those dates."""
    text = query.lower()
    found: list[DateRef] = []
    for pattern, fields in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = dict(zip(fields, match.groups(), strict=True))
            month = _MONTHS.get(parts["m"]) if "m" in parts else None
            month = int(parts["n"]) if "n" in parts else month
            day = int(parts["d"]) if "d" in parts else None
            year = int(parts["y"]) if "y" in parts else None
            if not 1 <= (day or 1) <= 31 or not 1 <= (month or 1) <= 12:
                continue
            found.append((year, month, day))
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text, found


def date_fit(dates: list[DateRef], created_at: str) -> float:
    """How well a message's date fits the best of ``dates``: 1.0 on it, less further away."""
    try:
        said = date.fromisoformat(created_at[:10])
    except ValueError:
        return 0.0
    return max(_fit(ref, said) for ref in dates)


def _fit(ref: DateRef, said: date) -> float:
    year, month, day = ref
    if year and month and day:
        try:
            days = abs((said - date(year, month, day)).days)
        except ValueError:
            return 0.0
        return math.exp(-days / DATE_SCALE_DAYS)
    if year and month:
        months = abs((said.year - year) * 12 + said.month - month)
        return 1.0 if months == 0 else 0.3 if months == 1 else 0.0
    if month and day:
        return (
            1.0 if (said.month, said.day) == (month, day) else 0.5 if said.month == month else 0.0
        )
    if month:
        return 1.0 if said.month == month else 0.0
    return 0.3 if said.year == year else 0.0
