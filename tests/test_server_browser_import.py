"""Importing from the web page (issue 17's last point), in headless Chromium at desktop
(1280 px) and phone (390 px) widths: a ChatGPT export picked in the Import panel comes in
(the panel says what came in), its chats join the list and open with their messages; a
bad file, and one over the server's limit, show why nothing came in. Screens are kept in
test-artifacts/ (web-import-*.png).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel

from memchat.config import load_settings
from memchat.store import Store

from .browser_harness import DESKTOP, PHONE, browser_page, log_in, needs_chromium
from .browser_harness import screenshot as keep_screen
from .foreign_exports import chatgpt_export, chatgpt_export_later
from .helpers import user_message
from .server_harness import LiveServer, add_user, scripted_app

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect

GPT_PLAIN = "chatgpt-c0ffee00-0000-4000-8000-000000000001"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: these tests are about the page (tests/test_server_import.py runs the
    API on both backends)."""
    return sqlite_store


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=request.param)


def fits(p: Any) -> None:
    """Nothing on the page scrolls sideways."""
    assert p.evaluate("document.documentElement.scrollWidth") <= p.viewport_size["width"]


def in_view(p: Any, selector: str) -> None:
    """The element is whole on the screen, not cut off at either side."""
    box = p.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= p.viewport_size["width"], (selector, box)


# Every text the status line shows, and whether the form could be used meanwhile.
WATCH_STATUS = """() => {
  window.seen = [];
  new MutationObserver(() => window.seen.push([
    document.getElementById("import-status").textContent,
    document.getElementById("import-send").disabled,
  ])).observe(document.getElementById("import-status"), { childList: true, subtree: true });
}"""


def test_a_chatgpt_export_picked_in_the_page_becomes_chats(
    store: Store, page: Any, tmp_path: Path
) -> None:
    p = page
    width = p.viewport_size["width"]
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    garden = store.create_session("sara", "garden", title="Garden plans")
    store.commit_turn(garden, [user_message("Roses")])
    bundle = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("conversations.json", json.dumps(chatgpt_export()))
    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        log_in(p, live.url, token)
        expect(p.locator("#sessions li")).to_have_text(["Garden plans"])
        in_view(p, "#import")

        p.click("#import")
        panel = p.locator("#import-panel")
        expect(panel).to_be_visible()
        p.set_input_files("#import-file", str(bundle))
        p.check("#import-learn")
        fits(p)
        keep_screen(p, f"web-import-panel-{width}.png")
        p.evaluate(WATCH_STATUS)
        p.click("#import-send")
        status = p.locator("#import-status")
        expect(status).to_have_text("Imported 2 chats (4 turns, 2 branches), 2 facts.")
        # "Importing…" while it ran, the form not to be used again meanwhile.
        assert p.evaluate("window.seen")[0] == ["Importing chatgpt-export.zip…", True]
        expect(p.locator("#import-send")).to_be_enabled()
        expect(p.locator("#import-error")).to_have_text("")
        in_view(p, "#import-status")
        fits(p)
        keep_screen(p, f"web-import-done-{width}.png")
        assert {s.id for s in store.list_sessions("sara")} == {
            "garden",
            GPT_PLAIN,
            "chatgpt-c0ffee00-0000-4000-8000-000000000002",
        }
        assert {f.key: f.source for f in store.list_facts("sara")} == {
            "name": "import: chatgpt-export.zip",
            "home": "import: chatgpt-export.zip",
        }

        # The list has them (under their own dates); one opens with its messages.
        p.click("#import-close")
        sessions = p.locator("#sessions li")
        expect(sessions).to_have_count(3)
        sessions.filter(has_text="Moving to Porto").click()
        expect(p.locator("#title")).to_have_text("Moving to Porto")
        expect(p.locator(".msg.user")).to_have_text(
            ["My name is Sara and I live in Porto.", "Any tips for the Douro valley?"]
        )
        expect(p.locator(".msg.assistant")).to_have_text(
            ["Nice to meet you, Sara!", "Take the train from São Bento."]
        )
        assert p.url.endswith(f"#{GPT_PLAIN}")
        fits(p)
        keep_screen(p, f"web-import-chat-{width}.png")

        # The same file again: nothing new, said so.
        p.click("#import")
        p.set_input_files("#import-file", str(bundle))
        p.click("#import-send")
        expect(status).to_have_text("Nothing new; 2 skipped (imported before).")
        assert len(store.list_sessions("sara")) == 3

        # A later export: the chats that went on get their new turns, said so.
        later = tmp_path / "chatgpt-export-later.zip"
        with zipfile.ZipFile(later, "w") as archive:
            archive.writestr("conversations.json", json.dumps(chatgpt_export_later()))
        p.set_input_files("#import-file", str(later))
        p.click("#import-send")
        expect(status).to_have_text("Updated 2 chats (3 new turns).")
        p.click("#import-close")
        sessions.filter(has_text="Moving to Porto").click()
        expect(p.locator(".msg.user").last).to_have_text("Where can we walk together?")


def test_a_bad_file_says_why_and_imports_nothing(store: Store, page: Any, tmp_path: Path) -> None:
    p = page
    width = p.viewport_size["width"]
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    store.create_session("sara", "garden", title="Garden plans")
    broken = chatgpt_export()
    broken[0]["mapping"]["a1"]["message"]["content"] = []
    bad = tmp_path / "conversations.json"
    bad.write_text(json.dumps(broken))
    large = tmp_path / "large.json"
    large.write_bytes(b"[" + b" " * 4 * 1024 * 1024 + b"]")
    settings = load_settings().with_overrides(max_import_bytes=16_384)
    with LiveServer(scripted_app(store, ScriptedModel(), settings)) as live:
        log_in(p, live.url, token)
        p.click("#import")
        p.set_input_files("#import-file", str(bad))
        p.click("#import-send")
        error = p.locator("#import-error")
        expect(error).to_have_text(
            "conversations.json: conversation 1 (c0ffee00-0000-4000-8000-000000000001),"
            " node a1: content is not an object"
        )
        expect(p.locator("#import-status")).to_have_text("")
        in_view(p, "#import-error")
        fits(p)
        keep_screen(p, f"web-import-error-{width}.png")

        # Over the server's limit: refused before it is read, and the page says so.
        p.set_input_files("#import-file", str(large))
        p.click("#import-send")
        expect(error).to_have_text("the file is over 16,384 bytes, the most this server takes")
        p.click("#import-close")
        expect(p.locator("#sessions li")).to_have_text(["Garden plans"])
        assert [s.id for s in store.list_sessions("sara")] == ["garden"]
        assert store.list_facts("sara") == []
