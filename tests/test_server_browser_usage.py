"""The web page's usage, in headless Chromium at desktop (1280 px) and phone (390 px) widths:
the figure under a session's title, and the Usage panel's chart of tokens per day (Chart.js,
served from the page's own folder) and table per model. Screens go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from agents.testing import ScriptedModel
from agents.usage import Usage

from memchat.store import Store
from memchat.store.usage import TurnUsage

from .browser_harness import DESKTOP, PHONE, browser_page, log_in, needs_chromium, screenshot
from .helpers import reply, user_message
from .server_harness import LiveServer, add_user, scripted_app

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
expect = sync_api.expect


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from browser_page(sync_api, viewport=request.param)


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def metered(store: Store, user: str, session: str, text: str, cost: TurnUsage, n: int) -> None:
    info = store.ensure_session(user, session)
    store.commit_turn(
        info,
        [user_message(text), {"role": "assistant", "content": f"re: {text}"}],
        created_at=stamp(days_ago(n)),
        usage=cost,
    )


def test_the_session_figure_and_the_usage_chart(store: Store, page: Any) -> None:
    p = page
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    old = store.ensure_session("sara", "old")
    store.commit_turn(old, [user_message("unmetered")], created_at=stamp(days_ago(5)))
    metered(store, "sara", "trip", "Flights?", TurnUsage("gpt-big", 5000, 200, 1, 800, 3000), 2)
    metered(store, "sara", "trip", "Hotels?", TurnUsage("gpt-big", 3000, 100, 1, 600, 2000), 0)
    metered(store, "ali", "mine", "Not sara's", TurnUsage("gpt-big", 999_999, 1), 0)
    model = ScriptedModel(
        [reply("Noted.")],
        default_usage=Usage(requests=1, input_tokens=1900, output_tokens=40, total_tokens=1940),
    )
    with LiveServer(scripted_app(store, model)) as live:
        log_in(p, live.url, token)
        figure = p.locator("#session-usage")
        expect(figure).to_have_text("2 turns · 8.3k tokens")
        # A turn through the page updates it: 8,300 + 1,940 tokens.
        p.fill("#input", "And a car?")
        p.click("#send")
        expect(p.locator(".msg.assistant").last).to_have_text("Noted.")
        expect(figure).to_have_text("3 turns · 10k tokens")
        # A session without metered turns shows its turns alone.
        p.locator("#sessions li", has_text="unmetered").click()
        expect(figure).to_have_text("1 turn")

        p.click("#usage")
        panel = p.locator("#usage-panel")
        expect(panel).to_be_visible()
        expect(p.locator("#usage-summary")).to_contain_text("10,240 tokens in 3 turns")
        rows = p.locator("#usage-models tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("gpt-big")
        expect(rows.nth(1)).to_contain_text("1,940")
        # The chart (Chart.js, from /static) holds each day's tokens, oldest first.
        chart = "Chart.getChart(document.getElementById('usage-chart'))"
        # Functions, not expressions: the page's CSP forbids the eval that polling one needs.
        p.wait_for_function(f"() => window.Chart && {chart}")
        labels = p.evaluate(f"{chart}.data.labels")
        inputs = p.evaluate(f"{chart}.data.datasets[0].data")
        outputs = p.evaluate(f"{chart}.data.datasets[1].data")
        assert len(labels) == 30 and labels[-1] == stamp(days_ago(0))[5:10]
        assert (inputs[-3:], outputs[-3:]) == ([5000, 0, 4900], [200, 0, 140])
        assert sum(inputs) == 9900  # nothing of ali's
        box = p.locator("#usage-chart").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert p.evaluate("document.documentElement.scrollWidth") <= p.viewport_size["width"]
        width = "phone" if p.viewport_size["width"] < 700 else "desktop"
        screenshot(p, f"web-usage-{width}.png")

        p.select_option("#usage-since", "7d")
        p.wait_for_function(f"() => {chart}.data.labels.length === 7")
        assert p.evaluate(f"{chart}.data.datasets[0].data")[-3:] == [5000, 0, 4900]
        p.click("#usage-close")
        expect(panel).to_be_hidden()
