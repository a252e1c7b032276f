"""Small ChatGPT and Claude exports of our own, in the shapes those apps write
(conversations.json; checked against public descriptions and parsers of both formats)."""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HIDDEN = {"is_visually_hidden_from_conversation": True}


def gpt_message(role: str, text: str, at: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"m-{at}",
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": at,
        "update_time": None,
        "content": {"content_type": "text", "parts": [text]},
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": extra.pop("metadata", {}),
        "recipient": extra.pop("recipient", "all"),
        **extra,
    }


def gpt_conversation(
    key: str, title: str, nodes: list[tuple[str, str | None, dict[str, Any] | None]], current: str
) -> dict[str, Any]:
    """A conversation from (node id, parent id, message or None) triples."""
    mapping: dict[str, dict[str, Any]] = {
        node: {"id": node, "message": message, "parent": parent, "children": []}
        for node, parent, message in nodes
    }
    for node, parent, _ in nodes:
        if parent is not None:
            mapping[parent]["children"].append(node)
    return {
        "title": title,
        "create_time": T0,
        "update_time": T0 + 100,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": current,
        "plugin_ids": None,
        "conversation_id": key,
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "id": key,
    }


def chatgpt_export() -> list[dict[str, Any]]:
    """Two conversations: a plain one (with ChatGPT's empty root and hidden system
    message), and one where the user edited a message and regenerated a reply."""
    hidden = {"is_visually_hidden_from_conversation": True}
    plain = gpt_conversation(
        "c0ffee00-0000-4000-8000-000000000001",
        "Moving to Porto",
        [
            ("root", None, None),
            ("sys", "root", gpt_message("system", "", T0, metadata=hidden)),
            ("u1", "sys", gpt_message("user", "My name is Sara and I live in Porto.", T0 + 1)),
            ("a1", "u1", gpt_message("assistant", "Nice to meet you, Sara!", T0 + 2)),
            ("u2", "a1", gpt_message("user", "Any tips for the Douro valley?", T0 + 3)),
            # Code Interpreter: a call to the python tool and its output, not words to show.
            ("py", "u2", gpt_message("assistant", "print(1)", T0 + 3.5, recipient="python")),
            ("out", "py", gpt_message("tool", "1", T0 + 3.6)),
            ("a2", "out", gpt_message("assistant", "Take the train from São Bento.", T0 + 4)),
        ],
        "a2",
    )
    branched = gpt_conversation(
        "c0ffee00-0000-4000-8000-000000000002",
        "Dinner ideas",
        [
            ("root", None, None),
            ("u1", "root", gpt_message("user", "Ideas for dinner tonight?", T0 + 10)),
            ("a1", "u1", gpt_message("assistant", "Grilled sardines.", T0 + 11)),
            # The reply regenerated: a sibling answer to the same question.
            ("a1b", "u1", gpt_message("assistant", "A caldo verde soup.", T0 + 12)),
            ("u2", "a1b", gpt_message("user", "Something vegetarian, please.", T0 + 13)),
            ("a2", "u2", gpt_message("assistant", "Roasted peppers with rice.", T0 + 14)),
            # The question edited: a sibling of u2, and its own answer.
            ("u2b", "a1b", gpt_message("user", "Something with fish, please.", T0 + 15)),
            ("a2b", "u2b", gpt_message("assistant", "Cod with chickpeas.", T0 + 16)),
        ],
        "a2b",
    )
    return [plain, branched]


def claude_export() -> list[dict[str, Any]]:
    """An older, linear conversation and a newer one with parents and a retried reply."""

    def message(key: str, sender: str, text: str, minute: int, parent: str | None = None) -> Any:
        entry: dict[str, Any] = {
            "uuid": key,
            "text": text,
            "content": [{"type": "text", "text": text}],
            "sender": sender,
            "created_at": f"2024-03-01T10:{minute:02d}:00.000000+00:00",
            "updated_at": f"2024-03-01T10:{minute:02d}:00.000000+00:00",
            "attachments": [],
            "files": [],
        }
        if parent is not None:
            entry["parent_message_uuid"] = parent
        return entry

    linear = {
        "uuid": "11111111-1111-4111-8111-111111111111",
        "name": "Cat names",
        "created_at": "2024-03-01T10:00:00.000000+00:00",
        "updated_at": "2024-03-01T10:05:00.000000+00:00",
        "account": {"uuid": "acc"},
        "chat_messages": [
            message("h1", "human", "I have two cats called Miso and Tofu.", 1),
            message("a1", "assistant", "Lovely names!", 2),
            message("h2", "human", "Which one should get the bigger bed?", 3),
            message("a2", "assistant", "The older one.", 4),
        ],
    }
    root = "00000000-0000-4000-8000-000000000000"
    tree = {
        "uuid": "22222222-2222-4222-8222-222222222222",
        "name": "Trip",
        "created_at": "2024-03-02T10:00:00.000000+00:00",
        "updated_at": "2024-03-02T10:05:00.000000+00:00",
        "account": {"uuid": "acc"},
        "chat_messages": [
            message("t1", "human", "Plan a weekend in Lisbon.", 10, root),
            message("t2", "assistant", "Day one: Alfama.", 11, "t1"),
            message("t2b", "assistant", "Day one: Belém.", 12, "t1"),
        ],
    }
    return [linear, tree]


def chatgpt_tree() -> dict[str, Any]:
    """One conversation with every kind of branch, its messages said in this order:
    three turns; the second reply regenerated; the second question edited and answered,
    followed by a third question that was then edited too (a branch of a branch); the
    first question edited; and the user back on the first path (``current_node`` a3)."""
    said = iter(range(1, 100))

    def at(role: str, text: str) -> dict[str, Any]:
        return gpt_message(role, text, T0 + next(said))

    nodes: list[tuple[str, str | None, dict[str, Any] | None]] = [
        ("root", None, None),
        ("sys", "root", gpt_message("system", "", T0, metadata=HIDDEN)),
        ("u1", "sys", at("user", "Plan a trip to Kyoto.")),
        ("a1", "u1", at("assistant", "Three days in Kyoto.")),
        ("u2", "a1", at("user", "What about food?")),
        ("a2", "u2", at("assistant", "Ramen in Gion.")),
        ("u3", "a2", at("user", "And temples?")),
        ("a3", "u3", at("assistant", "Kinkaku-ji at dawn.")),
        ("a2r", "u2", at("assistant", "Sushi at Nishiki market.")),  # regenerated
        ("u2e", "a1", at("user", "What about hotels?")),  # edited
        ("a2e", "u2e", at("assistant", "A ryokan near the station.")),
        ("u3e", "a2e", at("user", "Cheaper ones?")),
        ("a3e", "u3e", at("assistant", "Hostels in Shimogyo.")),
        ("u3f", "a2e", at("user", "Ones with an onsen?")),  # an edit on the branch
        ("a3f", "u3f", at("assistant", "Kinosaki is two hours away.")),
        ("u1e", "sys", at("user", "Plan a trip to Osaka.")),  # the first message edited
        ("a1e", "u1e", at("assistant", "Two days in Osaka.")),
    ]
    return gpt_conversation("c0ffee00-0000-4000-8000-00000000000a", "Japan", nodes, "a3")


def grown(conversation: dict[str, Any], nodes: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Add ChatGPT nodes (id, parent, message) to ``conversation``; the last is current."""
    mapping = conversation["mapping"]
    for node, parent, message in nodes:
        mapping[node] = {"id": node, "message": message, "parent": parent, "children": []}
        mapping[parent]["children"].append(node)
    conversation["current_node"] = nodes[-1][0]
    conversation["update_time"] = T0 + 1000


def chatgpt_export_later() -> list[dict[str, Any]]:
    """``chatgpt_export()`` as a later export has it: the plain conversation went on for
    two turns and the branched one for one; the app wrote the old messages' metadata
    differently (and a reply's spacing), which the comparison of a re-import ignores."""
    plain, branched = chatgpt_export()
    for node in plain["mapping"].values():
        if node["message"] is not None:
            node["message"]["metadata"] = {"model_slug": "gpt-4o", "request_id": "r-2"}
            node["message"]["update_time"] = T0 + 500
    plain["mapping"]["a1"]["message"]["content"]["parts"] = ["Nice to meet you,  Sara! "]
    grown(
        plain,
        [
            ("u3", "a2", gpt_message("user", "I have a dog called Rex.", T0 + 200)),
            ("a3", "u3", gpt_message("assistant", "Rex loves the riverside.", T0 + 201)),
            ("u4", "a3", gpt_message("user", "Where can we walk together?", T0 + 202)),
            ("a4", "u4", gpt_message("assistant", "Along the Douro.", T0 + 203)),
        ],
    )
    grown(
        branched,
        [
            ("u3", "a2b", gpt_message("user", "And for dessert?", T0 + 210)),
            ("a3", "u3", gpt_message("assistant", "Pastéis de nata.", T0 + 211)),
        ],
    )
    return [plain, branched]
