"""Branches in the web page, in headless Chromium at desktop (1280 px) and phone (390 px)
widths: Edit on any message of yours, "< k/n >" on a message or a reply that has other
versions, switching between them, and a failed edit that leaves everything as it was.
Screens of each state are kept in test-artifacts/ (web-branches-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from agents.testing import ModelStep, ScriptedModel

from memchat.store import Store

from .browser_harness import DESKTOP, PHONE, browser_page, log_in, needs_chromium
from .browser_harness import screenshot as keep_screen
from .helpers import reply, texts_of, user_message
from .server_harness import LiveServer, add_user, scripted_app

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect

ORIGINAL = ["Name a colour", "Red", "Pick a fruit", "Apple"]
EDITED = ["Name a warm colour", "Orange"]
AMBER = "**Amber**: warmer still.\n\n- `#FFBF00` in hex\n- between yellow and orange"
REGENERATED = ["Name a warm colour", re.compile(r"^Amber: warmer still\.\s+#FFBF00 in hex")]
STORED = ["Name a warm colour", AMBER]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: these tests are about the page (tests/test_branches.py runs the tree
    on both backends)."""
    return sqlite_store


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=request.param)


@pytest.fixture
def desktop() -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=DESKTOP)


def token_of(store: Store) -> str:
    return add_user(store, "sara")["Authorization"].removeprefix("Bearer ")


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def send(p: Any, text: str) -> None:
    asked = p.locator(".msg.user")
    count = asked.count()
    p.fill("#input", text)
    p.press("#input", "Enter")
    expect(asked).to_have_count(count + 1)
    expect(p.locator(".msg.streaming")).to_have_count(0)
    expect(p.locator("#send")).to_be_visible()


def active_line(store: Store, session_id: str) -> list[str]:
    return texts_of(store.get_items(store.get_session("sara", session_id)))


def older_chats(store: Store) -> None:
    """Two chats from other days, so the list looks like one in use (the README's screen)."""
    for title, days in (("Lisbon trip", 1), ("Garden plans", 4)):
        when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
        session = store.create_session("sara", title.split()[0].lower(), title=title)
        store.commit_turn(session, [user_message(title), assistant("Noted.")], created_at=when)


def test_edit_any_message_and_switch_between_its_versions(store: Store, page: Any) -> None:
    p = page
    width = p.viewport_size["width"]
    token = token_of(store)
    older_chats(store)
    model = ScriptedModel([reply("Red"), reply("Apple"), reply("Orange"), reply(AMBER)])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        p.click("#new-session")
        messages = p.locator(".msg")
        send(p, "Name a colour")
        sid = p.url.rsplit("#", 1)[1]
        send(p, "Pick a fruit")
        expect(messages).to_have_text(ORIGINAL)
        mine, replies = p.locator(".entry.user"), p.locator(".entry.assistant")
        expect(p.locator(".versions")).to_have_count(0)

        # Edit the first message: the chat reruns from there.
        mine.first.get_by_role("button", name="Edit").click()
        expect(p.locator("#input")).to_have_value("Name a colour")
        expect(p.locator("#composer-note")).to_contain_text("Editing an earlier message")
        p.fill("#input", "Name a warm colour")
        p.press("#input", "Enter")
        expect(messages).to_have_text(EDITED)
        assert texts_of(model.calls[-1].input) == ["Name a warm colour"]
        expect(mine.locator(".versions .count")).to_have_text(["2/2"])
        expect(replies.locator(".versions")).to_have_count(0)
        expect(mine.get_by_role("button", name="Next version")).to_be_disabled()
        assert active_line(store, sid) == EDITED
        keep_screen(p, f"web-branches-edited-{width}.png")

        # Previous: the original message, its reply and the turn after it.
        mine.first.get_by_role("button", name="Previous version").click()
        expect(messages).to_have_text(ORIGINAL)
        expect(mine.locator(".versions .count")).to_have_text(["1/2"])
        expect(mine.get_by_role("button", name="Previous version")).to_be_disabled()
        assert active_line(store, sid) == ORIGINAL
        keep_screen(p, f"web-branches-original-{width}.png")

        # Next: back to the edit.
        mine.first.get_by_role("button", name="Next version").click()
        expect(messages).to_have_text(EDITED)
        expect(mine.locator(".versions .count")).to_have_text(["2/2"])
        assert active_line(store, sid) == EDITED

        # Regenerate: a second reply to the same message, with its own arrows.
        p.get_by_role("button", name="Regenerate").click()
        expect(messages).to_have_text(REGENERATED)
        assert texts_of(model.calls[-1].input) == ["Name a warm colour"]
        expect(replies.locator(".versions .count")).to_have_text(["2/2"])
        expect(mine.locator(".versions .count")).to_have_text(["2/2"])
        expect(replies.locator("strong")).to_have_text("Amber")
        assert active_line(store, sid) == STORED
        keep_screen(p, f"web-branches-regenerated-{width}.png")

        replies.first.get_by_role("button", name="Previous version").click()
        expect(messages).to_have_text(EDITED)
        expect(replies.locator(".versions .count")).to_have_text(["1/2"])
        expect(mine.locator(".versions .count")).to_have_text(["2/2"])
        assert active_line(store, sid) == EDITED
        keep_screen(p, f"web-branches-first-reply-{width}.png")
        replies.first.get_by_role("button", name="Next version").click()
        expect(messages).to_have_text(REGENERATED)
        expect(replies.locator(".versions .count")).to_have_text(["2/2"])

        # The message's Previous goes to the original; its Next to the edit's newest reply.
        mine.first.get_by_role("button", name="Previous version").click()
        expect(messages).to_have_text(ORIGINAL)
        mine.first.get_by_role("button", name="Next version").click()
        expect(messages).to_have_text(REGENERATED)
        # A reload draws the same arrows from what the server holds.
        p.reload()
        expect(messages).to_have_text(REGENERATED)
        expect(p.locator(".versions .count")).to_have_text(["2/2", "2/2"])
        assert p.evaluate("document.documentElement.scrollWidth") <= width

    # Switching asked the model nothing; the store holds every version.
    assert len(model.calls) == 4
    assert active_line(store, sid) == STORED
    session = store.get_session("sara", sid)
    branches = store.list_branches(session)
    assert [(b.parent, b.fork_seq) for b in branches] == [(0, 0), (0, 0)]
    firsts = [store.branch_turns(session, b.id)[0] for b in branches]
    assert sorted(texts_of([i for turn in firsts for i in turn.items])) == sorted(
        [*ORIGINAL[:2], *EDITED]
    )
    assert session.turn_count == 1


def test_a_failed_edit_leaves_the_chat_as_it_was(store: Store, page: Any) -> None:
    """The model fails the rerun: the turns come back, one error says so, the edit is back
    in the box, the store is as it was, and Enter tries the same edit again."""
    p = page
    token = token_of(store)
    chat = store.create_session("sara", "chat", title="Colours")
    store.commit_turn(chat, [user_message("Name a colour"), assistant("Red")])
    store.commit_turn(chat, [user_message("Pick a fruit"), assistant("Apple")])
    model = ScriptedModel([ModelStep.raise_error(RuntimeError("upstream down")), reply("Orange")])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        messages = p.locator(".msg")
        expect(messages).to_have_text(ORIGINAL)
        p.locator(".entry.user").first.get_by_role("button", name="Edit").click()
        p.fill("#input", "Name a warm colour")
        p.press("#input", "Enter")
        error = p.locator("#chat-error")
        expect(error).to_contain_text("Your edit is back in the box")
        assert error.inner_text().count("saved") <= 1
        expect(messages).to_have_text(ORIGINAL)
        expect(p.locator("#input")).to_have_value("Name a warm colour")
        expect(p.locator("#composer-note")).to_contain_text("Editing an earlier message")
        assert store.list_branches(store.get_session("sara", "chat")) == []
        assert active_line(store, "chat") == ORIGINAL

        p.press("#input", "Enter")
        expect(messages).to_have_text(EDITED)
        expect(error).to_have_text("")
        expect(p.locator(".entry.user .versions .count")).to_have_text(["2/2"])
    assert texts_of(model.calls[-1].input) == ["Name a warm colour"]
    assert active_line(store, "chat") == EDITED


def test_versions_count_in_the_order_they_were_written(store: Store, desktop: Any) -> None:
    """The arrows' logic (static/versions.js) over a tree the page tests above do not
    reach: three versions of a message, two asking the same, a branch of a branch."""
    p = desktop
    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        found = p.evaluate(
            """async () => {
              const { versionsOf } = await import("/static/versions.js");
              const b = (id, parent, fork_seq, first_seq, first_message) =>
                ({ id, parent, fork_seq, first_seq, first_message });
              const turns = [{ seq: 3, asked: "b" }, { seq: 4, asked: "x" }];
              const branches = [
                b(1, 0, 0, 1, "a"), b(2, 0, 0, 5, "b"), b(3, 0, 3, 6, "x"), b(4, 1, 1, 2, "y"),
              ];
              return Object.fromEntries(versionsOf(turns, branches));
            }"""
        )
    # Turn 3 asks "b": the second of two texts ("a" was first), the first of two replies.
    assert found["3"] == {
        "message": {"k": 2, "n": 2, "previous": 1, "next": None},
        "reply": {"k": 1, "n": 2, "previous": None, "next": 2},
    }
    # Turn 4 has a newer reply (branch 3); branch 4 continues branch 1, not this line.
    assert found["4"] == {"message": None, "reply": {"k": 1, "n": 2, "previous": None, "next": 3}}


def test_fork_a_chat_from_a_reply(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    model = ScriptedModel([reply("Red"), reply("Apple"), reply("Banana")])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        p.click("#new-session")
        send(p, "Name a colour")
        first = p.url.rsplit("#", 1)[1]
        send(p, "Pick a fruit")
        replies = p.locator(".entry.assistant")
        expect(replies.get_by_role("button", name="Fork")).to_have_count(2)

        # Fork after the first reply: a new chat with that turn only, shown at its address.
        replies.first.get_by_role("button", name="Fork").click()
        expect(p).not_to_have_url(re.compile(rf"#{re.escape(first)}$"))
        expect(p.locator(".msg")).to_have_text(ORIGINAL[:2])
        forked = p.url.rsplit("#", 1)[1]
        send(p, "Another fruit")
        expect(p.locator(".msg")).to_have_text([*ORIGINAL[:2], "Another fruit", "Banana"])
        # The model in the fork saw the copied turn, not the original's second one.
        assert texts_of(model.calls[-1].input) == [*ORIGINAL[:2], "Another fruit"]

    assert active_line(store, first) == ORIGINAL
    assert active_line(store, forked) == [*ORIGINAL[:2], "Another fruit", "Banana"]
    keep_screen(p, f"web-branches-forked-{p.viewport_size['width']}.png")
