"""Message texts, and the titles of sessions derived from their first message."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Item, is_user_message

TITLE_LENGTH = 60


def item_text(item: Item) -> str:
    """The plain text of a message item (its text parts joined), or "" if it has none."""
    if not isinstance(item, dict):
        return ""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def title_from_items(items: Sequence[Item]) -> str | None:
    """A short title from the first user message, or None if there is none."""
    for item in items:
        if is_user_message(item):
            # NUL dropped, as in every title (base.clean_text): PostgreSQL cannot keep it.
            text = " ".join(item_text(item).replace("\x00", "").split())
            if text:
                return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"
    return None


def message_text(item: Item) -> tuple[str, str] | None:
    """The role and text of a user or assistant message item, or None for any other item."""
    if not isinstance(item, dict) or item.get("type") not in (None, "message"):
        return None
    role = item.get("role")
    if role not in ("user", "assistant"):
        return None
    text = item_text(item).strip()
    return (str(role), text) if text else None
