"""The web chat's conversation in headless Chromium, at desktop (1280 px) and phone
(390 px) widths: Markdown as the server renders it, per-message actions (stop, regenerate,
edit and resend, copy, copy code), a memory note in its own session, "+ New chat" that
stores nothing until its first message, a scroll that leaves a reader where they are, and
the page's furniture (thinking, timestamps, dates, model, welcome, dark mode). Screens
are kept in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agents.testing import ScriptedModel

from memchat.store import Store

from .browser_harness import DESKTOP, PHONE, Pieces, browser_page, log_in, needs_chromium
from .browser_harness import screenshot as keep_screen
from .helpers import reply, texts_of, user_message
from .server_harness import LiveServer, add_user, scripted_app, wait_for

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect

RICH_REPLY = """\
Here is what I found:

| fruit | price |
|:------|------:|
| apple | 1.20 |
| pear  | 0.90 |

1. Fruit
   - apples
   - pears
2. Drinks

> Eat well.

```python
def total(prices):
    return sum(prices)  # <b>not bold</b>
```"""


@pytest.fixture
def page() -> Iterator[Any]:
    yield from browser_page(
        sync_api, viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def token_of(store: Store, name: str = "sara") -> str:
    return add_user(store, name)["Authorization"].removeprefix("Bearer ")


def clipboard(p: Any) -> str:
    return str(p.evaluate("navigator.clipboard.readText()"))


def test_markdown_tables_lists_quotes_and_code_with_copy(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    model = ScriptedModel([reply(RICH_REPLY)])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        p.fill("#input", "Prices?")
        p.press("#input", "Enter")
        bubble = p.locator(".msg.assistant")
        expect(bubble.locator("table th")).to_have_text(["fruit", "price"])
        expect(bubble.locator("table td.align-right").first).to_have_text("1.20")
        # Nested items stay in their own list, inside their parent's item.
        expect(bubble.locator("ol > li")).to_have_count(2)
        expect(bubble.locator("ol > li").first.locator("ul > li")).to_have_text(["apples", "pears"])
        quote = bubble.locator("blockquote")
        expect(quote).to_have_text("Eat well.")
        assert quote.evaluate("q => getComputedStyle(q).borderLeftStyle") == "solid"
        # Code is coloured; its markup stays text.
        expect(bubble.locator("pre code .hl-k").first).to_have_text("def")
        expect(bubble.locator("pre code")).to_contain_text("# <b>not bold</b>")
        assert bubble.locator("b").count() == 0
        keep_screen(p, "web-markdown.png")

        bubble.get_by_role("button", name="Copy code").click()
        assert clipboard(p).startswith("def total(prices):\n")
        p.locator(".entry.assistant .meta").get_by_role("button", name="Copy").click()
        expect(p.locator(".entry.assistant .action[data-done]")).to_have_count(1)
        assert clipboard(p) == RICH_REPLY

        # On a phone: the table scrolls inside its bubble, the page does not.
        p.set_viewport_size(PHONE)
        p.reload()
        expect(bubble.locator("table")).to_be_visible()
        assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        keep_screen(p, "web-markdown-phone.png")


def test_the_memory_note_lands_in_its_own_session(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    other = store.create_session("sara", "other", title="Other chat")
    store.commit_turn(other, [user_message("Hi"), assistant("Hello")])
    mine = store.create_session("sara", "mine", title="My chat")
    store.commit_turn(mine, [user_message("Hey"), assistant("Hey!")])
    pieces = Pieces("Nice to meet you, ", "Sara!")
    with LiveServer(scripted_app(store, ScriptedModel([pieces.step()]))) as live:
        log_in(p, live.url, token)
        expect(p.locator("#title")).to_have_text("My chat")
        p.fill("#input", "My name is Sara")
        p.press("#input", "Enter")
        expect(p.locator(".msg.streaming")).to_contain_text("Nice to meet you")
        expect(p.locator("#stop")).to_be_visible()

        # Elsewhere while it streams: Send waits, and the page says why.
        p.click("#sessions li >> text=Other chat")
        expect(p.locator("#title")).to_have_text("Other chat")
        expect(p.locator(".msg.streaming")).to_have_count(0)
        expect(p.locator("#send")).to_be_hidden()
        expect(p.locator("#composer-note")).to_contain_text('still coming in "My chat"')
        # Back: the reply streaming there is there.
        p.click("#sessions li >> text=My chat")
        expect(p.locator(".msg.streaming")).to_contain_text("Nice to meet you")
        p.click("#sessions li >> text=Other chat")
        expect(p.locator(".msg")).to_have_text(["Hi", "Hello"])

        pieces.rest.set()
        assert wait_for(lambda: store.get_session("sara", "mine").turn_count == 2)
        expect(p.locator("#send")).to_be_visible()
        expect(p.locator("#composer-note")).to_have_text("")
        # The note of a turn in "My chat" is not shown under "Other chat".
        expect(p.locator(".msg")).to_have_text(["Hi", "Hello"])
        expect(p.locator(".memory-note")).to_have_count(0)
    # The turn did change memory: there was a note to misplace.
    assert {f.key: f.value for f in store.list_facts("sara")} == {"name": "Sara"}


def test_new_chat_stores_nothing_until_its_first_message(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    old = store.create_session("sara", "old", title="Old chat")
    store.commit_turn(
        old, [user_message("Hi"), assistant("Hello")], created_at="2024-03-01T10:00:00+00:00"
    )
    thinking = Pieces("Hello ", "there!", started=False)
    held = Pieces("Still ", "going")
    model = ScriptedModel([thinking.step(), held.step()])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        expect(p.locator("#model")).to_have_text("Model: test")
        # The session list under date headings; each message with its time.
        expect(p.locator(".session-group h3")).to_have_text(["March 2024"])
        expect(p.locator(".entry.user time")).to_have_attribute(
            "datetime", "2024-03-01T10:00:00.000Z"
        )

        p.click("#new-session")
        p.click("#new-session")
        expect(p.locator("#title")).to_have_text("New chat")
        expect(p.locator("#welcome")).to_be_visible()
        expect(p.locator("#welcome")).to_contain_text("Hello, sara.")
        assert [s.id for s in store.list_sessions("sara")] == ["old"]

        # Between Enter and the first piece of the reply: Thinking…
        p.fill("#input", "Hello")
        p.press("#input", "Enter")
        expect(p.locator(".msg.assistant .thinking")).to_have_text("Thinking…")
        expect(p.locator("#welcome")).to_be_hidden()
        thinking.start.set()
        expect(p.locator(".msg.assistant")).to_contain_text("Hello")
        expect(p.locator(".thinking")).to_have_count(0)
        thinking.rest.set()
        expect(p.locator(".msg.assistant")).to_have_text("Hello there!")
        sessions = store.list_sessions("sara")
        assert len(sessions) == 2
        fresh = next(s for s in sessions if s.id != "old")
        assert p.url.endswith(f"#{fresh.id}")
        expect(p.locator(".session-group h3").first).to_have_text("Today")
        expect(p.locator("#sessions li.active")).to_have_text("Hello")

        # "+ New chat" while a reply streams: Stop, and a note that says where it is.
        p.fill("#input", "Go on")
        p.press("#input", "Enter")
        expect(p.locator(".msg.streaming")).to_contain_text("Still")
        p.click("#new-session")
        expect(p.locator("#stop")).to_be_visible()
        expect(p.locator("#composer-note")).to_contain_text('still coming in "Hello"')
        held.rest.set()
        expect(p.locator("#send")).to_be_visible()
        expect(p.locator("#composer-note")).to_have_text("")
        assert len(store.list_sessions("sara")) == 2
        keep_screen(p, "web-welcome.png")


def test_stop_regenerate_and_edit_the_last_turn(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    chat = store.create_session("sara", "chat", title="Fruit")
    store.commit_turn(chat, [user_message("Name a colour"), assistant("Red")])
    store.commit_turn(chat, [user_message("Pick a fruit"), assistant("Apple")])
    story = Pieces("Once upon ", "a time")
    model = ScriptedModel([reply("Pear"), reply("Tea"), story.step()])
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        messages = p.locator(".msg")
        expect(messages).to_have_text(["Name a colour", "Red", "Pick a fruit", "Apple"])
        # Only the last reply can be regenerated; each message of yours can be edited
        # (earlier ones: tests/test_server_browser_branches.py).
        expect(p.get_by_role("button", name="Regenerate")).to_have_count(1)
        expect(p.get_by_role("button", name="Edit")).to_have_count(2)

        p.get_by_role("button", name="Regenerate").click()
        expect(messages).to_have_text(["Name a colour", "Red", "Pick a fruit", "Pear"])
        assert texts_of(model.calls[-1].input) == ["Name a colour", "Red", "Pick a fruit"]

        p.get_by_role("button", name="Edit").last.click()
        expect(p.locator("#input")).to_have_value("Pick a fruit")
        expect(p.locator("#composer-note")).to_contain_text("Editing your last message")
        p.fill("#input", "Pick a drink")
        p.press("#input", "Enter")
        expect(messages).to_have_text(["Name a colour", "Red", "Pick a drink", "Tea"])
        assert texts_of(model.calls[-1].input) == ["Name a colour", "Red", "Pick a drink"]
        stored = texts_of(store.get_items(store.get_session("sara", "chat")))
        assert stored == ["Name a colour", "Red", "Pick a drink", "Tea"]

        # Stop: nothing of the turn is kept, and the message is back in the box.
        p.fill("#input", "Tell me a story")
        p.press("#input", "Enter")
        expect(p.locator(".msg.streaming")).to_contain_text("Once upon")
        p.click("#stop")
        expect(p.locator("#chat-error")).to_contain_text("Stopped")
        expect(p.locator("#input")).to_have_value("Tell me a story")
        expect(messages).to_have_text(["Name a colour", "Red", "Pick a drink", "Tea"])
        assert story.aborted.wait(5)
        assert texts_of(store.get_items(store.get_session("sara", "chat"))) == stored


def test_a_reader_scrolled_up_stays_put(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    chat = store.create_session("sara", "long", title="Long")
    for n in range(30):
        store.commit_turn(chat, [user_message(f"question {n}"), assistant(f"answer {n}")])
    long_rest = "\n\n".join(f"More, part {n}." for n in range(40))
    first, second = Pieces("Start.\n\n", long_rest), Pieces("Again.\n\n", long_rest)
    model = ScriptedModel([first.step(), second.step()])
    gap = "(m => m.scrollHeight - m.scrollTop - m.clientHeight)"
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        view = p.locator("#messages")
        p.fill("#input", "Tell me more")
        p.press("#input", "Enter")
        expect(p.locator(".msg.streaming")).to_contain_text("Start.")
        # The reader goes back up to read an earlier answer while the reply comes in.
        view.evaluate("m => { m.scrollTop = 0; }")
        first.rest.set()
        expect(p.locator(".msg.assistant").last).to_contain_text("part 39")
        expect(p.locator(".msg.streaming")).to_have_count(0)
        assert view.evaluate("m => m.scrollTop") == 0

        # At the bottom, the page follows the reply to its end.
        p.fill("#input", "And again")
        p.press("#input", "Enter")
        expect(p.locator(".msg.streaming")).to_contain_text("Again.")
        second.rest.set()
        expect(p.locator(".msg.streaming")).to_have_count(0)
        expect(p.locator(".msg.assistant").last).to_contain_text("part 39")
        assert view.evaluate(gap) <= 40


def test_dark_mode_follows_the_system(store: Store, page: Any) -> None:
    p = page
    token = token_of(store)
    chat = store.create_session("sara", "c", title="Code")
    store.commit_turn(chat, [user_message("Code?"), assistant("```python\nx = 1\n```")])
    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.emulate_media(color_scheme="dark")
        log_in(p, live.url, token)
        expect(p.locator(".msg.assistant pre")).to_be_visible()
        background = p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 23, 27)"
        keep_screen(p, "web-dark.png")
        p.emulate_media(color_scheme="light")
        background = p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(246, 247, 249)"
