"""The web chat end to end in headless Chromium: log in, chat, stream, rename, delete,
search, memory, per-message actions, at desktop and phone widths. (The Markdown renderer
behind the page, on any text, is tests/test_markdown.py's.)

Drives Debian's /usr/bin/chromium through Playwright (`make browser` installs it; this
test skips, saying so, where it is missing). Screens are kept in test-artifacts/:
web-chat.png, web-search.png and web-memory.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agents.testing import ModelStep, ScriptedModel

from memchat.store import Store

from .browser_harness import ARTIFACTS, DESKTOP, browser_page, needs_chromium
from .helpers import reply, texts_of, user_message
from .server_harness import Gate, LiveServer, add_user, scripted_app

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

MARKDOWN_REPLY = "Hello **Sara**!\n\n- tea\n- `code <b>`\n\n```\nprint('<hi>')\n```"
HOSTILE_REPLY = (
    "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    " [x](javascript:alert(1))"
)


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: these tests are about the page, not the store.

    (test_server_turns runs the server on both backends.)
    """
    return sqlite_store


@pytest.fixture
def page() -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=DESKTOP)


def test_web_chat_in_a_browser(store: Store, page: Any) -> None:
    p, expect = page, sync_api.expect
    headers = add_user(store, "sara")
    token = headers["Authorization"].removeprefix("Bearer ")
    gate = Gate(MARKDOWN_REPLY)
    model = ScriptedModel([gate.step(), reply(HOSTILE_REPLY), reply("Noted.")])

    with LiveServer(scripted_app(store, model)) as live:
        p.goto(live.url)
        p.fill("#token", "mc_wrong")
        p.click("text=Log in")
        expect(p.locator("#login-error")).to_contain_text("unknown or was revoked")
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#me")).to_have_text("sara")

        # A streamed reply: the first piece shows while the model is still going.
        p.fill("#input", "My name is Sara")
        p.press("#input", "Enter")
        streaming = p.locator(".msg.assistant.streaming")
        expect(streaming).to_contain_text("Hello Sara!")
        gate.open.set()
        expect(streaming).to_have_count(0)
        bubble = p.locator(".msg.assistant").last
        expect(bubble.locator("strong")).to_have_text("Sara")
        expect(bubble.locator("li")).to_have_count(2)
        expect(bubble.locator("li code")).to_have_text("code <b>")
        expect(bubble.locator("pre code")).to_have_text("print('<hi>')")
        sessions = p.locator("#sessions li")
        expect(sessions).to_have_count(1)
        expect(sessions.first).to_have_text("My name is Sara")
        # What the turn taught memchat is shown under the reply.
        expect(p.locator(".memory-note")).to_have_text("(remembered name: Sara)")

        # HTML from a message or a reply is shown as text, never run.
        p.fill("#input", "<b>bold?</b> <img src=x onerror='window.pwned = 3'>")
        p.click("#send")
        expect(p.locator(".msg.assistant").last).to_contain_text("window.pwned = 1")
        assert p.evaluate("window.pwned") is None
        assert p.locator("#messages script, #messages img, #messages b").count() == 0
        assert p.locator("#messages a").count() == 0

        # A second session, renamed.
        p.click("#new-session")
        expect(p.locator("#title")).to_have_text("New chat")
        p.fill("#input", "I like green tea")
        p.press("#input", "Enter")
        expect(p.locator(".msg.assistant").last).to_have_text("Noted.")
        expect(sessions).to_have_count(2)
        p.click("#rename")
        p.fill("#rename-input", "Tea talk")
        p.press("#rename-input", "Enter")
        expect(p.locator("#title")).to_have_text("Tea talk")
        expect(sessions.first).to_have_text("Tea talk")
        assert store.list_sessions("sara")[0].title == "Tea talk"

        # A reload keeps the login and shows the stored history.
        p.reload()
        expect(p.locator("#title")).to_have_text("Tea talk")
        expect(p.locator(".msg.user")).to_have_text(["I like green tea"])
        sessions.last.click()
        expect(p.locator(".msg.assistant strong").first).to_have_text("Sara")
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)

        # Delete, after the page's question.
        p.click("#delete")
        p.locator("#delete-panel").get_by_role("button", name="Delete", exact=True).click()
        expect(sessions).to_have_count(1)
        expect(p.locator("#title")).to_have_text("Tea talk")

    remaining = store.list_sessions("sara")
    assert [s.title for s in remaining] == ["Tea talk"]
    assert texts_of(store.get_items(remaining[0])) == ["I like green tea", "Noted."]


HOSTILE_FACT = '<img src=x onerror="window.pwned=1">'


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def test_search_and_memory_in_a_browser(store: Store, page: Any) -> None:
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    trip = store.create_session("sara", "trip", title="Lisbon trip")
    store.commit_turn(
        trip,
        [user_message("We fly to Lisbon on Friday [gate]"), assistant("Have a good trip!")],
        created_at="2024-05-03T10:00:00+00:00",
    )
    store.commit_turn(
        trip,
        [user_message('Is <b>Lisbon</b> warm? <img src=x onerror="window.pwned=2">')],
        created_at="2024-05-03T10:05:00+00:00",
    )
    garden = store.create_session("sara", "garden", title="Garden")
    store.commit_turn(
        garden,
        [user_message("The roses need pruning"), assistant("Prune them in late winter.")],
        created_at="2024-05-04T09:00:00+00:00",
    )
    store.set_fact("sara", "name", "Sara", "test")
    store.set_fact("sara", "note", HOSTILE_FACT, "test")

    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#title")).to_have_text("Garden")

        # Search: each hit names its session, date and role, the matched word marked.
        p.fill("#search-input", "lisbon")
        p.press("#search-input", "Enter")
        hits = p.locator("#hits .hit")
        expect(hits).to_have_count(2)
        expect(p.locator("#search-summary")).to_have_text("2 matches")
        flight = hits.filter(has_text="fly")
        expect(flight.locator(".hit-meta")).to_have_text("Lisbon trip · 2024-05-03 · user")
        # Only the matched word: the message's own "[gate]" is not a match.
        expect(flight.locator("mark")).to_have_text(["Lisbon"])
        # A message's markup is shown as text around the mark, never made into elements.
        expect(hits.filter(has_text="warm").locator(".snippet")).to_contain_text(
            "Is <b>Lisbon</b> warm?"
        )
        assert p.locator("#hits b, #hits img").count() == 0
        assert p.evaluate("window.pwned") is None
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / "web-search.png"), full_page=True)

        # A hit opens its session, at the message found.
        flight.click()
        expect(p.locator("#title")).to_have_text("Lisbon trip")
        expect(p.locator("#sessions li.active")).to_have_text("Lisbon trip")
        expect(p.locator(".msg.found")).to_have_text("We fly to Lisbon on Friday [gate]")

        p.fill("#search-input", "zebra")
        p.press("#search-input", "Enter")
        expect(p.locator("#search-summary")).to_have_text("No messages match")
        expect(hits).to_have_count(0)

        # A hit whose session was deleted since shows why it cannot open.
        p.fill("#search-input", "roses")
        p.press("#search-input", "Enter")
        expect(hits).to_have_count(1)
        store.delete_session("sara", "garden")
        hits.first.click()
        expect(p.locator("#chat-error")).to_contain_text("no session 'garden'")
        expect(p.locator("#sessions li")).to_have_text(["Lisbon trip"])
        expect(p.locator("#title")).to_have_text("Lisbon trip")

        # Memory: the facts, a hostile one shown as text.
        p.click("#memory")
        panel = p.locator("#memory-panel")
        expect(panel).to_be_visible()
        facts = panel.locator("#facts tr")
        expect(facts).to_have_count(2)
        expect(facts.filter(has_text="name")).to_contain_text("Sara")
        expect(facts.filter(has_text="note").locator("td").nth(1)).to_have_text(HOSTILE_FACT)
        assert panel.locator("img").count() == 0
        assert p.evaluate("window.pwned") is None

        p.get_by_label("Key").fill("city")
        p.get_by_label("Value").fill("Lisbon")
        p.get_by_role("button", name="Remember").click()
        expect(facts).to_have_count(3)
        expect(facts.first).to_contain_text("city")
        p.get_by_role("button", name="Forget name").click()
        expect(facts).to_have_count(2)
        expect(panel).not_to_contain_text("Sara")
        p.screenshot(path=str(ARTIFACTS / "web-memory.png"), full_page=True)

        p.keyboard.press("Escape")
        expect(panel).to_be_hidden()

        # A fact learned in a chat links to the message it came from.
        store.set_fact("sara", "trip", "Lisbon", "trip#1", taught_by=(trip, 1))
        p.click("#memory")
        expect(facts.filter(has_text="city")).to_contain_text("by hand")
        source = facts.filter(has_text="trip").get_by_role("link", name="trip #1")
        source.click()
        expect(panel).to_be_hidden()
        expect(p.locator(".msg.found")).to_have_text("We fly to Lisbon on Friday [gate]")
        assert p.evaluate("location.hash") == "#trip"

    remembered = {fact.key: fact.value for fact in store.list_facts("sara")}
    assert remembered == {"city": "Lisbon", "note": HOSTILE_FACT, "trip": "Lisbon"}


def test_the_page_loads_every_page_of_a_long_list(store: Store, page: Any) -> None:
    """More sessions, turns and facts than one page of the API holds (100, 50, 100): the
    page follows each list's Link header to its end."""
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    for n in range(120):
        store.create_session("sara", f"s{n:03}", title=f"Chat {n:03}")
    long = store.create_session("sara", "long", title="Long chat")
    for n in range(70):
        store.commit_turn(long, [user_message(f"question {n}"), assistant(f"answer {n}")])
    for n in range(130):
        store.set_fact("sara", f"fact{n:03}", f"value {n}", "test")

    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#title")).to_have_text("Long chat")
        expect(p.locator("#sessions li")).to_have_count(121)
        expect(p.locator("#sessions li").last).to_have_text("Chat 000")
        expect(p.locator(".msg")).to_have_count(140)
        expect(p.locator(".msg").first).to_have_text("question 0")
        expect(p.locator(".msg").last).to_have_text("answer 69")
        p.click("#memory")
        expect(p.locator("#memory-panel #facts tr")).to_have_count(130)


# Lines that once stopped the renderer's paragraph rule without any other rule taking
# them: the page spun until "Invalid array length", then logged the user out. Each with
# what it renders as now (a fence's language is the first word of its info string).
STUCK_LINES = [
    ("```bash ls```", "p code", "bash ls"),
    ('```python title="x"', "pre code.language-python", "ls -la"),
    ("~~~ hi ~~~", "pre code.language-hi", "ls -la"),
    (" # x", "h1", "x"),
]


@pytest.mark.parametrize(("line", "part", "text"), STUCK_LINES)
def test_a_reply_renders_whatever_its_lines(
    store: Store, page: Any, line: str, part: str, text: str
) -> None:
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    model = ScriptedModel([reply(f"Try this:\n{line}\nls -la")])

    with LiveServer(scripted_app(store, model)) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        p.fill("#input", "How do I list files?")
        p.press("#input", "Enter")
        bubble = p.locator(".msg.assistant")
        expect(bubble).to_contain_text("ls -la", timeout=3000)
        expect(bubble.locator(part)).to_have_text(text)

        # The stored reply renders again at login, which must not log the user out.
        p.reload()
        expect(p.locator("#me")).to_have_text("sara", timeout=3000)
        expect(bubble).to_contain_text("ls -la", timeout=3000)
        assert p.evaluate("localStorage.getItem('memchat.token')") == token


def test_the_page_fits_a_phone(store: Store, page: Any) -> None:
    """At a phone's 390 px nothing scrolls sideways: the chat takes the whole width, the
    message box is wide enough to type in, and every button is on the screen."""
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    for n in range(12):
        store.create_session("sara", f"s{n:02}", title=f"A chat with a rather long title {n}")
    chat = store.create_session("sara", "now", title="Today")
    store.commit_turn(chat, [user_message("word " * 80), assistant("`" + "x" * 300 + "`")])
    store.set_fact("sara", "name", "Sara", "test")
    p.set_viewport_size({"width": 390, "height": 844})

    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#title")).to_have_text("Today")
        assert p.evaluate("document.documentElement.scrollWidth") <= 390
        box = p.locator("#input").bounding_box()
        assert box is not None and box["width"] >= 250
        for button in ("#send", "#rename", "#delete", "#memory", "#new-session", "#projects"):
            shown = p.locator(button).bounding_box()
            assert shown is not None and shown["x"] >= 0 and shown["x"] + shown["width"] <= 390
        messages = p.locator("#messages").bounding_box()
        assert messages is not None and messages["width"] >= 340 and messages["height"] >= 250
        p.click("#memory")
        expect(p.locator("#memory-panel")).to_be_visible()
        close = p.locator("#memory-close").bounding_box()
        assert close is not None and close["x"] + close["width"] <= 390
        p.screenshot(path=str(ARTIFACTS / "web-phone.png"))


def test_sessions_open_from_the_keyboard_and_escape_cancels_a_rename(
    store: Store, page: Any
) -> None:
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    older = store.create_session("sara", "older", title="Older chat")
    store.commit_turn(older, [user_message("from the older chat")])
    newer = store.create_session("sara", "newer", title="Newer chat")
    store.commit_turn(newer, [user_message("from the newer chat")])

    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#title")).to_have_text("Newer chat")
        # Tab from the search box reaches the sessions; Enter opens one.
        p.focus("#search-input")
        for _ in range(10):
            p.keyboard.press("Tab")
            if p.evaluate("document.activeElement.textContent") == "Older chat":
                break
        p.keyboard.press("Enter")
        expect(p.locator("#title")).to_have_text("Older chat")
        expect(p.locator(".msg")).to_have_text(["from the older chat"])

        p.click("#rename")
        p.fill("#rename-input", "Not this")
        p.press("#rename-input", "Escape")
        expect(p.locator("#title")).to_have_text("Older chat")
        expect(p.locator("#rename-form")).to_be_hidden()
    assert store.get_session("sara", "older").title == "Older chat"


def test_each_session_has_an_address_that_reload_and_back_keep(store: Store, page: Any) -> None:
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    for name in ("first", "second", "third"):
        session = store.create_session("sara", name, title=f"The {name} chat")
        store.commit_turn(session, [user_message(f"in the {name} chat")])

    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        expect(p.locator("#title")).to_have_text("The third chat")
        p.click("#sessions li >> text=The first chat")
        expect(p.locator("#title")).to_have_text("The first chat")
        assert p.url.endswith("#first")
        # A reload stays on the chat in the address, not the newest one.
        p.reload()
        expect(p.locator("#title")).to_have_text("The first chat")
        expect(p.locator(".msg")).to_have_text(["in the first chat"])
        p.click("#sessions li >> text=The second chat")
        expect(p.locator("#title")).to_have_text("The second chat")
        p.go_back()
        expect(p.locator("#title")).to_have_text("The first chat")
        # A bookmark opens its chat.
        p.goto(live.url + "#second")
        expect(p.locator("#title")).to_have_text("The second chat")


def test_a_failed_send_puts_the_message_back(store: Store, page: Any) -> None:
    """A turn the model fails leaves nothing in the chat that looks sent: the message goes
    back in the box, one error says so, and a retry sends it."""
    p, expect = page, sync_api.expect
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    model = ScriptedModel([ModelStep.raise_error(RuntimeError("upstream down")), reply("Hi!")])

    with LiveServer(scripted_app(store, model)) as live:
        p.goto(live.url)
        p.fill("#token", token)
        p.click("text=Log in")
        p.fill("#input", "A long message worth keeping")
        p.press("#input", "Enter")
        expect(p.locator("#chat-error")).to_contain_text("back in the box")
        expect(p.locator(".msg")).to_have_count(0)
        expect(p.locator("#input")).to_have_value("A long message worth keeping")
        assert p.locator("#chat-error").inner_text().count("saved") <= 1
        p.press("#input", "Enter")
        expect(p.locator(".msg")).to_have_text(["A long message worth keeping", "Hi!"])
        expect(p.locator("#chat-error")).to_have_text("")
