"""``GET /api/usage``: the caller's usage; another user's only for admins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents.testing import ScriptedModel
from agents.usage import Usage
from fastapi.testclient import TestClient

from memchat.store import Store

from .helpers import reply
from .server_harness import add_user, client, scripted_app, sse_events


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.model = ScriptedModel(
            default_usage=Usage(requests=1, input_tokens=700, output_tokens=30, total_tokens=730)
        )
        self.client: TestClient = client(scripted_app(store, self.model))
        self.sara = add_user(store, "sara")
        self.ali = add_user(store, "ali")
        self.admin = add_user(store, "root", admin=True)

    def send(self, user: str, session_id: str, text: str) -> None:
        self.store.ensure_session(user, session_id)
        self.model.enqueue(reply(f"re: {text}"))
        response = self.client.post(
            f"/api/sessions/{session_id}/messages",
            json={"text": text},
            headers=self.sara if user == "sara" else self.ali,
        )
        assert response.status_code == 200, response.text
        assert sse_events(response.text)[-1][0] == "done"

    def usage(self, headers: dict[str, str], **params: str) -> dict[str, object]:
        response = self.client.get("/api/usage", params=params, headers=headers)
        assert response.status_code == 200, response.text
        found: dict[str, object] = response.json()
        return found

    def status(self, headers: dict[str, str], **params: str) -> tuple[int, str]:
        response = self.client.get("/api/usage", params=params, headers=headers)
        return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    harness = Api(store)
    with harness.client:
        yield harness


def totals(report: dict[str, object]) -> tuple[int, int, int]:
    total = report["total"]
    assert isinstance(total, dict)
    return total["turns"], total["input_tokens"], total["output_tokens"]


def test_a_user_sees_their_own_usage_only(api: Api) -> None:
    api.send("sara", "trip", "hello")
    api.send("sara", "trip", "and again")
    api.send("sara", "work", "hi")
    api.send("ali", "mine", "hey")

    mine = api.usage(api.sara, by="session")
    assert mine["user"] == "sara" and mine["by"] == "session"
    assert [(r["key"], r["turns"], r["total_tokens"]) for r in mine["rows"]] == [  # type: ignore[attr-defined]
        ("trip", 2, 1460),
        ("work", 1, 730),
    ]
    assert totals(mine) == (3, 2100, 90)
    assert totals(api.usage(api.sara, session="work")) == (1, 700, 30)
    day = api.usage(api.sara, since="1h")
    assert isinstance(day["since"], str) and len(day["rows"]) == 1  # type: ignore[arg-type]
    # An age from before year 1 (the fuzz test's "200000w") is all of it, not a crash.
    assert totals(api.usage(api.sara, since="200000w")) == (3, 2100, 90)
    assert totals(api.usage(api.sara, user="sara")) == (3, 2100, 90)
    assert totals(api.usage(api.ali)) == (1, 700, 30)

    # Somebody else's usage, or session, is not the caller's to see.
    assert api.status(api.sara, user="ali") == (403, "forbidden")
    assert api.status(api.sara, user="nobody") == (403, "forbidden")
    assert api.status(api.sara, session="mine") == (404, "not_found")


def test_an_admin_sees_anybodys_usage(api: Api) -> None:
    api.send("sara", "trip", "hello")
    assert totals(api.usage(api.admin, user="sara")) == (1, 700, 30)
    assert totals(api.usage(api.admin)) == (0, 0, 0)  # their own: none
    assert totals(api.usage(api.admin, user="sara", session="trip", by="model")) == (1, 700, 30)
    assert api.status(api.admin, user="nobody") == (404, "not_found")
    assert api.status(api.admin, user="sara", session="none") == (404, "not_found")


def test_usage_needs_a_token_and_good_parameters(api: Api) -> None:
    assert api.client.get("/api/usage").status_code == 401
    for params in ({"by": "week"}, {"since": "3x"}, {"since": "7 days"}):
        response = api.client.get("/api/usage", params=params, headers=api.sara)
        assert response.status_code == 422, params
