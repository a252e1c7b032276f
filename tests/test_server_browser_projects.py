"""Projects and verified forgetting in the web page (issue 18), in headless Chromium at
desktop (1280 px) and phone (390 px) widths: a chat started in a project, the project
scoped from the Projects panel, the list filtered by project, a chat moved out of one, a
fact kept for a project, and a fact forgotten and a chat deleted with a receipt. Screens
are kept in test-artifacts/ (web-projects-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import ScriptedModel

from memchat.store import Store

from .browser_harness import DESKTOP, PHONE, browser_page, log_in, needs_chromium
from .browser_harness import screenshot as keep_screen
from .helpers import reply, user_message
from .server_harness import LiveServer, add_user, scripted_app

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: these tests are about the page (tests/test_server_projects.py runs the
    API on both backends)."""
    return sqlite_store


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=request.param)


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def api_of(live: LiveServer, token: str) -> httpx.Client:
    """The API as the page calls it, to check what it holds."""
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"})


def fits(p: Any) -> None:
    """Nothing on the page scrolls sideways."""
    width = p.viewport_size["width"]
    assert p.evaluate("document.documentElement.scrollWidth") <= width


def test_a_chat_in_a_project_scoped_filtered_and_moved(store: Store, page: Any) -> None:
    p = page
    width = p.viewport_size["width"]
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    garden = store.create_session("sara", "garden", title="Garden plans")
    store.commit_turn(garden, [user_message("Roses"), assistant("Prune them.")])
    model = ScriptedModel([reply("Noted: the roadmap is due in March."), reply("Got it.")])
    with LiveServer(scripted_app(store, model)) as live, api_of(live, token) as api:
        log_in(p, live.url, token)
        sessions = p.locator("#sessions li")
        expect(sessions).to_have_count(1)

        # A new chat in project "work": its first message makes the session there.
        p.click("#new-session")
        p.fill("#session-project", "work")
        p.fill("#input", "The quarterly roadmap is due in March")
        p.press("#input", "Enter")
        expect(p.locator(".msg.assistant")).to_have_text(["Noted: the roadmap is due in March."])
        expect(p.locator("#send")).to_be_visible()
        sid = p.url.rsplit("#", 1)[1]
        assert store.get_session("sara", sid).project == "work"
        in_work = api.get("/api/sessions", params={"project": "work"}).json()
        assert [(s["id"], s["project"], s["scoped"]) for s in in_work] == [(sid, "work", False)]
        mine = p.locator(f'#sessions li[data-id="{sid}"]')
        expect(mine.locator(".project-tag")).to_have_text("work")
        expect(p.locator("#session-project")).to_have_value("work")

        # Scope it from the Projects panel: the list and the heading say so.
        p.click("#projects")
        panel = p.locator("#projects-panel")
        row = panel.locator('tr[data-name="work"]')
        expect(row).to_contain_text("shared")
        expect(row.locator("td").nth(2)).to_have_text("1")
        row.get_by_role("button", name="Scope work").click()
        expect(row).to_contain_text("scoped")
        fits(p)
        keep_screen(p, f"web-projects-panel-{width}.png")
        p.click("#projects-close")
        expect(mine.locator(".project-tag")).to_have_text("work · scoped")
        expect(p.locator("#project-scope")).to_have_text("scoped memory")
        # The note stays in the heading: on a phone it once ran under the Rename button.
        note, rename = (p.locator(s).bounding_box() for s in ("#project-scope", "#rename"))
        assert note is not None and rename is not None
        assert (
            note["x"] + note["width"] <= rename["x"] or note["y"] >= rename["y"] + rename["height"]
        ), (note, rename)
        assert store.get_project("sara", "work").scoped
        assert api.get(f"/api/sessions/{sid}").json()["scoped"] is True

        # The list by project: one project's chats, those in none, all.
        p.select_option("#project-filter", "work")
        expect(sessions).to_have_count(1)
        expect(mine).to_be_visible()
        p.select_option("#project-filter", "")
        expect(sessions).to_have_text(["Garden plans"])
        p.select_option("#project-filter", "*")
        expect(sessions).to_have_count(2)
        fits(p)
        keep_screen(p, f"web-projects-list-{width}.png")

        # Move the garden chat into "home" (made by the move), then out of any project.
        sessions.filter(has_text="Garden plans").click()
        expect(p.locator("#title")).to_have_text("Garden plans")
        expect(p.locator("#session-project")).to_have_value("")
        p.fill("#session-project", "home")
        p.press("#session-project", "Enter")
        garden_item = p.locator('#sessions li[data-id="garden"]')
        expect(garden_item.locator(".project-tag")).to_have_text("home")
        assert store.get_session("sara", "garden").project == "home"
        p.fill("#session-project", "")
        p.press("#session-project", "Enter")
        expect(garden_item.locator(".project-tag")).to_have_count(0)
        assert store.get_session("sara", "garden").project == ""

        # Delete "home" (after the confirmation): gone from the panel and the filter.
        p.click("#projects")
        p.once("dialog", lambda dialog: dialog.accept())
        panel.get_by_role("button", name="Delete home").click()
        expect(panel.locator('tr[data-name="home"]')).to_have_count(0)
        expect(p.locator('#project-filter option[value="home"]')).to_have_count(0)
        assert [project.name for project in store.list_projects("sara")] == ["work"]
        p.click("#projects-close")

        # A new chat started in another project than the list shows: the list follows it.
        p.select_option("#project-filter", "work")
        p.click("#new-session")
        expect(p.locator("#session-project")).to_have_value("work")
        p.fill("#session-project", "notes")
        p.fill("#input", "Buy stamps")
        p.press("#input", "Enter")
        expect(p.locator(".msg.assistant")).to_have_text(["Got it."])
        expect(p.locator("#project-filter")).to_have_value("notes")
        started = p.url.rsplit("#", 1)[1]
        expect(p.locator(f'#sessions li[data-id="{started}"]')).to_be_visible()
        expect(sessions).to_have_count(1)


def test_a_project_fact_and_forgetting_with_a_receipt(store: Store, page: Any) -> None:
    p = page
    width = p.viewport_size["width"]
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    store.set_project_memory("sara", "work", scoped=True)
    plans = store.create_session("sara", "plans", title="Roadmap", project="work")
    store.commit_turn(plans, [user_message("The zebrafinch4471 launch"), assistant("Noted.")])
    store.create_session("sara", "other", title="Other chat")
    store.set_fact("sara", "name", "Sara", "test")
    with LiveServer(scripted_app(store, ScriptedModel())) as live, api_of(live, token) as api:
        log_in(p, live.url, token)

        # A fact kept for project "work" shows with its project; a user-wide one without.
        p.click("#memory")
        panel = p.locator("#memory-panel")
        p.fill("#fact-key", "editor")
        p.fill("#fact-value", "thunderstorms")
        p.fill("#fact-project", "work")
        panel.get_by_role("button", name="Remember").click()
        facts = panel.locator("#facts tr")
        expect(facts).to_have_count(2)
        expect(facts.filter(has_text="editor").locator(".fact-project")).to_have_text("work")
        expect(facts.filter(has_text="Sara").locator(".fact-project")).to_have_text("")
        (held,) = store.list_facts("sara", project="work")
        assert (held.key, held.value, held.project) == ("editor", "thunderstorms", "work")
        assert [f["project"] for f in api.get("/api/facts").json() if f["key"] == "editor"] == [
            "work"
        ]

        # Forget it and verify: the receipt says no copy remains.
        p.check("#fact-verify")
        panel.get_by_role("button", name="Forget editor").click()
        receipt = p.locator("#receipt-panel")
        expect(receipt).to_be_visible()
        expect(receipt).to_contain_text('Forgot the fact "editor" (project work).')
        expect(receipt.locator(".verdict")).to_have_text("0 remaining copies")
        expect(receipt).to_contain_text("Removed: ")
        fits(p)
        keep_screen(p, f"web-projects-fact-receipt-{width}.png")
        p.click("#receipt-close")
        expect(receipt).to_be_hidden()
        expect(facts).to_have_count(1)
        assert store.list_facts("sara", project="work") == []
        p.click("#memory-close")

        # Delete the chat and verify: a receipt of the session, its rows removed.
        p.locator('#sessions li[data-id="plans"]').click()
        expect(p.locator("#title")).to_have_text("Roadmap")
        p.click("#delete")
        expect(p.locator("#delete-panel")).to_contain_text('"Roadmap" and all its messages')
        p.get_by_role("button", name="Delete and verify").click()
        expect(receipt).to_be_visible()
        expect(receipt).to_contain_text('Forgot the chat "Roadmap".')
        expect(receipt.locator(".verdict")).to_have_text("0 remaining copies")
        expect(receipt).to_contain_text("sessions 1")
        fits(p)
        keep_screen(p, f"web-projects-session-receipt-{width}.png")
        p.click("#receipt-close")
        expect(p.locator("#sessions li")).to_have_text(["Other chat"])
        assert [s.id for s in store.list_sessions("sara")] == ["other"]
        assert api.get("/api/sessions/plans").status_code == 404

        # Cancel keeps a chat.
        p.click("#delete")
        p.get_by_role("button", name="Cancel").click()
        expect(p.locator("#delete-panel")).to_be_hidden()
        assert [s.id for s in store.list_sessions("sara")] == ["other"]


UNCLEAN = {
    "forgot": "the session plans of sara",
    "clean": False,
    "removed": {"sessions": 1, "items": 2},
    "words": 2,
    "copies": [{"word": "zebrafinch4471", "where": "memchat.db-wal, offset 288,338 (frame 70)"}],
    "kept": [{"word": "thunderstorms", "where": "sara's fact 'weather'"}],
    "scanned": ["kept data", "memchat.db (106,496 bytes)"],
    "notes": ["another process was reading the database: run it again later"],
}


def test_a_receipt_that_found_copies_says_where(store: Store, page: Any) -> None:
    """The server's answer is stood in for (a real remaining copy needs another process
    holding the log): the page shows each copy, the kept words and the notes, as text."""
    p = page
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    store.create_session("sara", "plans", title="Roadmap")
    with LiveServer(scripted_app(store, ScriptedModel())) as live:
        log_in(p, live.url, token)
        p.route("**/api/sessions/plans?verify=true", lambda route: route.fulfill(json=UNCLEAN))
        p.click("#delete")
        p.get_by_role("button", name="Delete and verify").click()
        receipt = p.locator("#receipt")
        expect(receipt.locator(".verdict")).to_have_text("1 remaining copy:")
        expect(receipt.locator("li")).to_have_text(
            [
                "'zebrafinch4471' in memchat.db-wal, offset 288,338 (frame 70)",
                "'thunderstorms' in sara's fact 'weather'",
            ]
        )
        expect(receipt).to_contain_text("Removed: sessions 1, items 2.")
        expect(receipt).to_contain_text("Looked for 2 distinctive words in: kept data;")
        expect(receipt).to_contain_text("Also in text that is kept, so not looked for on disk:")
        expect(receipt.locator(".note")).to_have_text(
            ["Note: another process was reading the database: run it again later"]
        )
        fits(p)
        keep_screen(p, f"web-projects-unclean-receipt-{p.viewport_size['width']}.png")
