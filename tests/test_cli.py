"""The command line, driven through click's runner with a scripted model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from agents import SQLiteSession
from agents.testing import ScriptedModel
from click.testing import CliRunner, Result

from memchat.cli import cli
from memchat.cli.app import App
from memchat.models import ModelChoice
from memchat.store import SQLiteStore

from .helpers import reply, texts_of


class Harness:
    """Runs ``memchat`` commands against one data dir and one scripted model."""

    def __init__(self) -> None:
        self.model = ScriptedModel()
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, replies: tuple[str, ...] = ()
    ) -> Result:
        self.model.extend(reply(text) for text in replies)
        app = App(model_factory=lambda _: ModelChoice(self.model, "scripted", "test"))
        return self.runner.invoke(cli, list(args), obj=app, input=input)


@pytest.fixture
def memchat() -> Harness:
    return Harness()


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def fails(result: Result, code: int = 1) -> str:
    """The error output of a failed command, checked to be a message, not a traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.output


def test_two_asks_are_one_conversation(memchat: Harness) -> None:
    first = memchat("ask", "--user", "sara", "My name is Sara", replies=("Hi Sara",))
    assert ok(first) and first.stdout.strip() == "Hi Sara"
    assert first.stderr.strip() == "(remembered name: Sara)"  # stdout stays the reply alone
    out = ok(memchat("ask", "--user", "sara", "What's my name?", replies=("Sara.",)))
    assert out.strip() == "Sara."
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input) == [
        "My name is Sara",
        "Hi Sara",
        "What's my name?",
    ]


def test_users_do_not_share_memory(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "My name is Sara", replies=("Hi",)))
    ok(memchat("ask", "-u", "ali", "What's my name?", replies=("I don't know.",)))
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input) == ["What's my name?"]


def test_ask_new_session_and_named_session(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "first", replies=("1",)))
    ok(memchat("ask", "-u", "sara", "--new", "second", replies=("2",)))
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input) == ["second"]
    listed = json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))
    assert [s["title"] for s in listed] == ["second", "first"]
    first_id = listed[1]["id"]
    ok(memchat("ask", "-u", "sara", "--session", first_id, "third", replies=("3",)))
    assert texts_of(memchat.model.last_call.input) == ["first", "1", "third"]


def test_ask_reads_stdin(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "-", input="from a pipe\n", replies=("got it",)))
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input) == ["from a pipe\n"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "--session", "nope", "hi"), "has no session 'nope'"),
        (("sessions", "show", "nope"), "has no session 'nope'"),
        (("ask", "--user", "../etc", "hi"), "invalid user name"),
        (("users", "delete", "ghost", "--yes"), "no user 'ghost'"),
        (("import", "missing.jsonl"), "cannot read missing.jsonl"),
    ],
)
def test_bad_input_is_one_line_error(memchat: Harness, args: tuple[str, ...], message: str) -> None:
    out = fails(memchat(*args))
    assert message in out
    assert out.startswith("Error:") and out.count("\n") == 1


def test_bad_flag_is_usage_error(memchat: Harness) -> None:
    assert "No such option" in fails(memchat("ask", "--bogus", "hi"), code=2)


def test_huge_paste_is_refused_before_the_model(
    memchat: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_MAX_INPUT_CHARS", "1000")
    out = fails(memchat("ask", "x" * 5000))
    assert "limit is 1,000" in out
    assert memchat.model.calls == ()


def test_no_model_configured_says_how(memchat: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("memchat.models.resolve._embedded_model_installed", lambda: False)
    result = CliRunner().invoke(cli, ["ask", "hi"], obj=App())
    out = fails(result)
    assert "OPENAI_API_KEY" in out and "MEMCHAT_BASE_URL" in out and "memchat[local]" in out


def test_model_failure_is_reported_and_nothing_saved(memchat: Harness) -> None:
    memchat.model.enqueue(RuntimeError("connection reset"))
    out = fails(memchat("ask", "-u", "sara", "hello"))
    assert "model call failed" in out and "connection reset" in out
    assert json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))[0]["turn_count"] == 0


def test_sessions_rename_show_clear_delete(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "hello there", replies=("hi",)))
    sid = json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))[0]["id"]
    ok(memchat("sessions", "rename", sid, "Greetings", "-u", "sara"))
    shown = json.loads(ok(memchat("sessions", "show", sid, "-u", "sara", "--json")))
    assert shown["title"] == "Greetings"
    assert texts_of(shown["turns"][0]["items"]) == ["hello there", "hi"]
    assert "hello there" in ok(memchat("sessions", "show", sid, "-u", "sara"))
    ok(memchat("sessions", "clear", sid, "-u", "sara", "--yes"))
    assert json.loads(ok(memchat("sessions", "show", sid, "-u", "sara", "--json")))["turns"] == []
    ok(memchat("sessions", "delete", sid, "-u", "sara", "--yes"))
    assert json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json"))) == []


def test_users_list_and_delete(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "hi", replies=("hello",)))
    ok(memchat("ask", "-u", "ali", "hi", replies=("hello",)))
    listed = json.loads(ok(memchat("users", "list", "--json")))
    assert [(u["name"], u["sessions"]) for u in listed] == [("ali", 1), ("sara", 1)]
    ok(memchat("users", "delete", "sara", "--yes"))
    assert [u["name"] for u in json.loads(ok(memchat("users", "list", "--json")))] == ["ali"]
    assert "no user 'sara'" in fails(memchat("sessions", "list", "-u", "sara"))


def test_export_import_round_trip(memchat: Harness, tmp_path: Path) -> None:
    ok(memchat("ask", "-u", "sara", "My name is Sara", replies=("Hi Sara",)))
    ok(memchat("ask", "-u", "sara", "I like teal", replies=("Nice",)))
    ok(memchat("ask", "-u", "sara", "--new", "other", replies=("ok",)))
    dump = tmp_path / "sara.jsonl"
    ok(memchat("export", "-u", "sara", "-o", str(dump)))
    markdown = ok(memchat("export", "-u", "sara", "--format", "markdown"))
    assert "**user:** My name is Sara" in markdown and "**assistant:** Hi Sara" in markdown

    # The facts memchat learned travel with a whole user's export, for reading too.
    assert "- **name:** Sara" in markdown

    other_db = tmp_path / "other.db"
    out = ok(memchat("--db", str(other_db), "import", str(dump)))
    assert "imported 2 session(s), 3 turns, 1 fact(s)" in out
    with SQLiteStore(other_db) as store:
        sessions = store.list_sessions("sara")
        texts = [texts_of(i for t in store.get_turns(s) for i in t.items) for s in sessions]
        assert [(f.key, f.value) for f in store.list_facts("sara")] == [("name", "Sara")]
    assert sorted(texts) == [["My name is Sara", "Hi Sara", "I like teal", "Nice"], ["other", "ok"]]
    # Importing the same file again would duplicate sessions: refused, nothing written.
    assert "already has a session" in fails(memchat("--db", str(other_db), "import", str(dump)))


def test_bad_import_names_the_line_and_imports_nothing(memchat: Harness, tmp_path: Path) -> None:
    ok(memchat("ask", "-u", "sara", "hello", replies=("hi",)))
    dump = tmp_path / "dump.jsonl"
    ok(memchat("export", "-u", "sara", "-o", str(dump)))
    lines = dump.read_text().splitlines()
    truncated = tmp_path / "truncated.jsonl"
    body = lines[:-1]  # without the end line
    truncated.write_text("\n".join([*body, lines[1].replace("sara", "ali"), lines[2][:20]]))
    other_db = tmp_path / "other.db"
    out = fails(memchat("--db", str(other_db), "import", str(truncated)))
    assert "truncated.jsonl:5: not valid JSON" in out
    duplicated = tmp_path / "dup.jsonl"
    duplicated.write_text("\n".join([*body, lines[1], lines[-1]]))
    assert "already appeared on line 2" in fails(
        memchat("--db", str(other_db), "import", str(duplicated))
    )
    with SQLiteStore(other_db) as store:
        assert store.list_users() == []


def test_import_sdk_sqlite_database(memchat: Harness, tmp_path: Path) -> None:
    """The sessions guide's conversion.db comes over as sessions of a user."""
    seed_db = tmp_path / "conversion.db"

    async def write_like_the_guide() -> None:
        sdk = SQLiteSession("user1", seed_db)
        await sdk.add_items([{"role": "user", "content": "Hi, my name is Sara"}])
        await sdk.add_items([{"role": "assistant", "content": "Hello Sara!"}])
        await sdk.add_items([{"role": "user", "content": "What's my name?"}])
        await sdk.add_items([{"role": "assistant", "content": "Your name is Sara!"}])
        sdk.close()

    asyncio.run(write_like_the_guide())
    out = ok(memchat("import", str(seed_db), "--user", "sara"))
    assert "imported 1 session(s), 2 turns, 0 fact(s): sara/user1" in out
    ok(memchat("ask", "-u", "sara", "-s", "user1", "And again?", replies=("Sara!",)))
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input)[:2] == ["Hi, my name is Sara", "Hello Sara!"]


def test_chat_repl_with_slash_commands(memchat: Harness) -> None:
    script = "\n".join(
        [
            "My name is Sara",
            "/rename About Sara",
            "/sessions",
            "What's my name?",
            "/undo",
            "/history",
            "/retry",
            "/bogus",
            "/new",
            "/user ali",
            "exit",
        ]
    )
    out = ok(memchat("chat", "-u", "sara", input=script, replies=("Hi Sara", "Sara", "Sara again")))
    assert "About Sara" in out
    # What a turn taught memory is shown, once.
    assert out.count("(remembered name: Sara)") == 2  # the turn, then its /retry
    assert "dropped the last turn: What's my name?" in out
    assert "unknown command /bogus" in out
    # /retry regenerated the reply to "My name is Sara" without the old reply in context.
    assert memchat.model.last_call is not None
    assert texts_of(memchat.model.last_call.input) == ["My name is Sara"]
    sessions = json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))
    about = next(s for s in sessions if s["title"] == "About Sara")
    shown = json.loads(ok(memchat("sessions", "show", about["id"], "-u", "sara", "--json")))
    assert [texts_of(t["items"]) for t in shown["turns"]] == [["My name is Sara", "Sara again"]]


def test_project_command_moves_the_session(memchat: Harness) -> None:
    ok(memchat("sessions", "new", "--id", "s1", "-u", "sara"))
    script = "/project\n/project thesis\n/project\nHello\nexit"
    out = ok(memchat("chat", "-u", "sara", "-s", "s1", input=script, replies=("Hi",)))
    assert "this session is in no project" in out
    assert "moved this session to thesis" in out
    assert "project thesis (memory shared)" in out
    listed = json.loads(
        ok(memchat("sessions", "list", "-u", "sara", "--project", "thesis", "--json"))
    )
    assert [s["id"] for s in listed] == ["s1"]
    ok(memchat("projects", "scope", "thesis", "-u", "sara"))
    out = ok(memchat("chat", "-u", "sara", "-s", "s1", input="/project\n/project -\nexit"))
    assert "project thesis (memory scoped)" in out and "moved this session to no project" in out
    listed = json.loads(ok(memchat("sessions", "list", "-u", "sara", "--project", "", "--json")))
    assert [s["id"] for s in listed] == ["s1"]


def test_memory_commands(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "Hi, my name is Sara.", replies=("Hi",)))
    ok(memchat("memory", "add", "Favorite Food", "dumplings", "-u", "sara"))
    facts = json.loads(ok(memchat("memory", "list", "-u", "sara", "--json")))
    assert {(f["key"], f["value"]) for f in facts} == {
        ("name", "Sara"),
        ("favourite food", "dumplings"),
    }
    ok(memchat("ask", "-u", "sara", "--new", "What do I like?", replies=("Dumplings",)))
    assert memchat.model.last_call is not None
    assert "- favourite food: dumplings" in str(memchat.model.last_call.input)
    forgot = ok(memchat("memory", "forget", "name", "-u", "sara"))
    # "Hi, my name is Sara." is no longer recalled (the reply "Hi" never said the name).
    assert "forgot name: Sara (1 message(s) no longer recalled)" in forgot
    assert "has no fact 'name'" in fails(memchat("memory", "forget", "name", "-u", "sara"))
    assert "Sara" not in ok(memchat("memory", "list", "-u", "sara"))


def test_chat_memory_command_lists_and_forgets(memchat: Harness) -> None:
    script = "Hi, my name is Sara.\n/memory\n/memory forget name\n/memory\n/memory drop\n"
    out = ok(memchat("chat", "-u", "sara", input=script, replies=("Hi",)))
    learned = out.index("(remembered name: Sara)") + len("(remembered name: Sara)")
    forgot = out.index("forgot name: Sara (1 message no longer recalled)")
    assert "name: Sara" in out[learned:forgot]  # /memory listed it
    assert "nothing remembered about you yet" in out[forgot:]
    assert "usage: /memory, or /memory forget KEY" in out
    with SQLiteStore(Path("home/memchat.db")) as store:
        assert store.list_facts("sara") == []


def test_chat_context_command_shows_parts(memchat: Harness) -> None:
    out = ok(
        memchat(
            "chat", "-u", "sara", input="/context\nMy name is Sara\n/context\n", replies=("Hi",)
        )
    )
    assert "no turn yet" in out
    for part in ("system prompt", "recent turns", "new message", "total"):
        assert part in out


def test_prune_and_user_delete_with_vacuum(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "hello", replies=("hi",)))
    ok(memchat("ask", "-u", "ali", "hello", replies=("hi",)))
    assert "pruned 0 turns" in ok(memchat("prune", "--older-than", "1d", "--yes"))
    out = ok(memchat("prune", "--older-than", "0h", "--user", "sara", "--vacuum", "--yes"))
    assert "pruned 1 turn, 1 empty session and vacuumed" in out
    assert json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json"))) == []
    assert len(json.loads(ok(memchat("sessions", "list", "-u", "ali", "--json")))) == 1
    assert "invalid age '90 days'" in fails(memchat("prune", "--older-than", "90 days", "--yes"))
    assert "and vacuumed" in ok(memchat("users", "delete", "ali", "--vacuum", "--yes"))


def test_chat_retry_after_failure_stores_turn_once(memchat: Harness) -> None:
    memchat.model.enqueue(RuntimeError("timeout"))
    out = ok(memchat("chat", "-u", "sara", input="hello\n/retry\n", replies=("hi",)))
    assert "model call failed" in out and "/retry sends it again" in out
    sessions = json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))
    shown = json.loads(ok(memchat("sessions", "show", sessions[0]["id"], "-u", "sara", "--json")))
    assert [texts_of(t["items"]) for t in shown["turns"]] == [["hello", "hi"]]


def test_chat_over_limit_message_is_not_offered_for_retry(
    memchat: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_MAX_INPUT_CHARS", "1000")
    out = ok(memchat("chat", "-u", "sara", input="x" * 5000 + "\n/retry\n"))
    assert "limit is 1,000" in out
    # A retry would fail the same way: it is not suggested, and there is nothing to retry.
    assert "/retry" not in out.split("limit is 1,000")[1].splitlines()[0]
    assert "nothing to retry" in out
    assert memchat.model.calls == ()


def test_chat_counts_turns_in_words(memchat: Harness) -> None:
    out = ok(memchat("chat", "-u", "sara", input="hello\n", replies=("hi",)))
    assert "(0 turns)" in out
    out = ok(memchat("chat", "-u", "sara", input="/new\n/switch " + _current(memchat) + "\n"))
    assert "(1 turn)." in out and "(1 turn):" in out and "(0 turns):" in out


def _current(memchat: Harness) -> str:
    """The id of sara's most recent session."""
    return str(json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json")))[0]["id"])


def test_config_shows_sources(
    memchat: Harness, memchat_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memchat_env.mkdir(parents=True, exist_ok=True)
    (memchat_env / "memchat.toml").write_text('agent_name = "Ada"\n')
    Path(".env").write_text("MEMCHAT_MODEL=llama3.2\nMEMCHAT_BASE_URL=http://localhost:11434/v1\n")
    monkeypatch.setenv("MEMCHAT_API_KEY", "sk-secret-value-1234")
    out = CliRunner().invoke(cli, ["config", "--json"], obj=App()).output
    data = json.loads(out)
    settings = {row["name"].split()[0]: row for row in data["settings"]}
    assert settings["agent_name"]["value"] == "Ada"
    assert settings["agent_name"]["source"].endswith("memchat.toml")
    assert settings["model"]["source"].endswith(".env")
    assert settings["api_key"]["value"] == "sk-…1234"
    assert data["model"] == "llama3.2 via http://localhost:11434/v1"
    # Unset, the budget and recall's cap show what is in force, not "None".
    assert settings["context_tokens"]["value"] == "16000 (for llama3.2)"
    assert settings["recall_k"]["value"] == "as many as the budget holds"
    assert settings["context_tokens"]["source"] == settings["recall_k"]["source"] == "default"
    assert data["memory"] == (
        "16,000-token context, earlier messages: all that fit, else excerpts around what"
        " recall finds, summaries by llama3.2,"
        " memory tools: remember, forget, search_history"
    )


def test_config_shows_settings_given(memchat: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCHAT_CONTEXT_TOKENS", "4000")
    monkeypatch.setenv("MEMCHAT_RECALL_K", "7")
    data = json.loads(ok(memchat("config", "--json")))
    settings = {row["name"].split()[0]: row for row in data["settings"]}
    assert (settings["context_tokens"]["value"], settings["recall_k"]["value"]) == ("4000", "7")
    assert data["memory"].startswith("4,000-token context, up to 7 recalled passages")


def test_db_in_a_missing_folder_is_an_error(
    memchat: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    out = fails(memchat("--db", str(missing / "x.db"), "sessions", "list"))
    assert f"the folder {missing} does not exist" in out
    # The same as a sqlite:/// URL, and through MEMCHAT_DB.
    assert "does not exist" in fails(memchat("--db", f"sqlite:///{missing}/x.db", "users", "list"))
    monkeypatch.setenv("MEMCHAT_DB", str(missing / "x.db"))
    assert "does not exist" in fails(memchat("users", "list"))
    assert not missing.parent.exists()
    # A new file in a folder that exists is made.
    ok(memchat("--db", str(tmp_path / "x.db"), "users", "list"))
    assert (tmp_path / "x.db").is_file()


def test_default_data_directory_is_created(memchat: Harness, memchat_env: Path) -> None:
    assert not memchat_env.exists()
    ok(memchat("users", "list"))
    assert (memchat_env / "memchat.db").is_file()


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"memchat {name}" in readme, name
        for sub in getattr(command, "commands", {}):
            assert f"memchat {name} {sub}" in readme or f"{name} list|" in readme, sub


def test_memory_shows_where_a_fact_came_from_and_its_history(memchat: Harness) -> None:
    ok(memchat("ask", "-u", "sara", "-n", "I live in Porto", replies=("Nice",)))
    ok(memchat("ask", "-u", "sara", "-n", "I moved to Lisbon", replies=("Oh",)))
    porto, lisbon = sorted(
        json.loads(ok(memchat("sessions", "list", "-u", "sara", "--json"))),
        key=lambda s: s["created_at"],
    )
    listed = ok(memchat("memory", "list", "-u", "sara", "--sources"))
    assert "Lisbon" in listed and f"{lisbon['id']}#1" in listed
    assert "I moved to Lisbon" in listed
    (fact,) = json.loads(ok(memchat("memory", "list", "-u", "sara", "--json")))
    assert [(s["session_id"], s["seq"]) for s in fact["sources"]] == [(lisbon["id"], 1)]
    shown = ok(memchat("memory", "history", "home", "-u", "sara"))
    assert shown.index("Porto") < shown.index("Lisbon") and f"{porto['id']}#1" in shown
    assert "now" in shown
    versions = json.loads(ok(memchat("memory", "history", "home", "-u", "sara", "--json")))
    assert [v["value"] for v in versions] == ["Porto", "Lisbon"]
    assert versions[0]["valid_to"] == versions[1]["valid_from"]
    assert versions[1]["valid_to"] is None
    assert "no fact 'pet'" in fails(memchat("memory", "history", "pet", "-u", "sara"))
    # Deleting the chat that taught Lisbon brings Porto back.
    ok(memchat("sessions", "delete", lisbon["id"], "-u", "sara", "--yes"))
    (fact,) = json.loads(ok(memchat("memory", "list", "-u", "sara", "--json")))
    assert fact["value"] == "Porto"
