"""The web chat end to end in headless Chromium: log in, chat, stream, rename, delete.

Drives Debian's /usr/bin/chromium through Playwright (`make browser` installs it; this
test skips, saying so, where it is missing). The last screen is kept as
test-artifacts/web-chat.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel

from memchat.store import Store

from .helpers import reply, texts_of
from .server_harness import Gate, LiveServer, add_user, scripted_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no Chromium at /usr/bin/chromium: run `make browser` (apt-get install chromium)",
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

MARKDOWN_REPLY = "Hello **Sara**!\n\n- tea\n- `code <b>`\n\n```\nprint('<hi>')\n```"
HOSTILE_REPLY = (
    "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    " [x](javascript:alert(1))"
)


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 720})
            yield context.new_page()
        finally:
            browser.close()


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

        # Delete, after the browser's confirmation.
        p.on("dialog", lambda dialog: dialog.accept())
        p.click("#delete")
        expect(sessions).to_have_count(1)
        expect(p.locator("#title")).to_have_text("Tea talk")

    remaining = store.list_sessions("sara")
    assert [s.title for s in remaining] == ["Tea talk"]
    assert texts_of(store.get_items(remaining[0])) == ["I like green tea", "Noted."]
