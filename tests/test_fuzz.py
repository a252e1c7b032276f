"""Bad input, fuzzed: names, message bodies, import files and damaged database files.

Whatever comes in is either accepted and kept exactly, or refused with a MemchatError (a
one-line ``Error:`` in the CLI); never a traceback, never half stored, and what was stored
before stays as it was.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from agents import SQLiteSession
from agents.testing import ModelStep, ScriptedModel
from agents.testing.model import ModelCall
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memchat.cli import cli
from memchat.cli.app import App
from memchat.config import load_settings
from memchat.errors import CorruptData, InvalidName, MemchatError, StoreError
from memchat.models import ModelChoice
from memchat.store import SQLiteStore, Store
from memchat.transfer import import_file, session_records, write_jsonl

from .helpers import reply, texts_of, user_message

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TRICKY_NAMES = [
    ".",
    "..",
    "../etc",
    "a/b",
    "a\\b",
    "C:\\x",
    "'; DROP TABLE users; --",
    "x" * 64,
    "x" * 65,
    "x" * 10_000,
    "é",
    "e\u0301",
    "𝄞",
    "\x00",
    "a\x00b",
    "a\nb",
    "\u202egnp.exe",
    "%s%n",
    "{0}",
    "-rf",
    "--help",
    "a b",
    "\udcff",
    "NULL",
]
# Any character at all, surrogates included (argv decodes bad bytes to lone surrogates).
any_text = st.text(st.characters(exclude_categories=()), min_size=1, max_size=80)
names = st.one_of(
    st.sampled_from(TRICKY_NAMES),
    any_text,
    st.from_regex(r"[\w.@+-]{1,70}", fullmatch=True),
)


def valid_name(name: str) -> bool:
    """The rule for user names and session ids as the README states it, written out here
    rather than taken from the store: 1-64 letters, digits or . _ @ + - (a letter or digit
    being what str.isalnum() says, in any script)."""
    return 1 <= len(name) <= 64 and all(char.isalnum() or char in "._@+-" for char in name)


def test_the_name_rule_sorts_the_tricky_names() -> None:
    accepted = [name for name in TRICKY_NAMES if valid_name(name)]
    assert accepted == [".", "..", "x" * 64, "é", "-rf", "--help", "NULL"]


def one_line_error(result: Result) -> str:
    """The output of a command that failed with a message, checked to be one short line."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


def memchat(*args: str, input: str | bytes | None = None, replies: tuple[str, ...] = ()) -> Result:
    model = ScriptedModel([reply(text) for text in replies])
    app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    return CliRunner().invoke(cli, list(args), obj=app, input=input)


@contextmanager
def fresh_dir() -> Iterator[Path]:
    """A directory of its own for one hypothesis example (fixtures last the whole test)."""
    with tempfile.TemporaryDirectory(prefix="memchat-fuzz-") as path:
        yield Path(path)


def snapshot(db: Path) -> list[Any]:
    """Everything a database holds about users, sessions and turns."""
    if not db.exists():
        return []
    with SQLiteStore(db) as store:
        return [
            (info.user, info.id, info.title, [t.items for t in store.get_turns(info)])
            for user in store.list_users()
            for info in store.list_sessions(user.name)
        ]


# -- names -----------------------------------------------------------------------------------


@FUZZ
@given(name=names | st.just(""))
def test_user_names_round_trip_or_are_refused(store: Store, name: str) -> None:
    try:
        created = store.ensure_user(name)
    except InvalidName as exc:
        assert not valid_name(name), f"the valid name {name!r} was refused"
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert valid_name(name), f"the invalid name {name!r} was accepted"
    assert created.name == name
    assert store.get_user(name).name == name
    assert name in {user.name for user in store.list_users()}


@FUZZ
@given(session_id=names)
def test_session_ids_round_trip_through_the_store_and_export(
    store: Store, tmp_path: Path, session_id: str
) -> None:
    try:
        info = store.create_session("sara", session_id)
    except InvalidName as exc:
        assert not valid_name(session_id), f"the valid id {session_id!r} was refused"
        assert "\n" not in str(exc) and len(str(exc)) < 300
        assert session_id not in {s.id for s in store.list_sessions("sara")}
        return
    assert valid_name(session_id), f"the invalid id {session_id!r} was accepted"
    store.commit_turn(info, [user_message("hi")])
    assert store.get_session("sara", session_id).id == session_id
    assert session_id in {s.id for s in store.list_sessions("sara")}
    dump = io.StringIO()
    write_jsonl(session_records(store, [info]), dump)
    store.delete_session("sara", session_id)
    path = tmp_path / "one.jsonl"
    path.write_text(dump.getvalue(), encoding="utf-8")
    (record,) = import_file(store, path, None).sessions
    assert record.id == session_id
    assert texts_of(store.get_items(store.get_session("sara", session_id))) == ["hi"]
    store.delete_session("sara", session_id)  # hypothesis may try the same id again


@settings(FUZZ, max_examples=30)
@given(user=names, session_id=names)
def test_names_through_the_cli_round_trip_or_fail_in_one_line(user: str, session_id: str) -> None:
    with fresh_dir() as scratch:
        names_through_the_cli(str(scratch / "cli.db"), user, session_id)


def names_through_the_cli(db: str, user: str, session_id: str) -> None:
    args = ("ask", f"--user={user}", f"--session={session_id}", "--new", "hi")
    result = memchat("--db", db, *args, replies=("hello",))
    if result.exit_code != 0:
        assert not (valid_name(user) and valid_name(session_id)), result.output
        assert "invalid" in one_line_error(result)
        assert snapshot(Path(db)) == []
        return
    assert valid_name(user) and valid_name(session_id), (user, session_id)
    shown = memchat("--db", db, "sessions", "show", f"--user={user}", "--json", "--", session_id)
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert (data["user"], data["id"]) == (user, session_id)
    assert [texts_of(t["items"]) for t in data["turns"]] == [["hi", "hello"]]


def test_empty_user_name_on_the_command_line_is_refused(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_USER", "sara")
    result = memchat("--db", str(db_path), "ask", "--user=", "hi", replies=("hello",))
    assert "invalid user name" in one_line_error(result)


@pytest.mark.parametrize(
    "args",
    [
        ("sessions", "list", "-u", "caf\udce9"),
        ("sessions", "show", "caf\udce9", "-u", "sara"),
        ("users", "delete", "caf\udce9", "--yes"),
        ("memory", "list", "-u", "caf\udce9"),
    ],
    ids=["sessions-list", "sessions-show", "users-delete", "memory-list"],
)
def test_looking_up_an_undecodable_name_is_a_one_line_error(
    db_path: Path, args: tuple[str, ...]
) -> None:
    with SQLiteStore(db_path) as store:
        store.ensure_user("sara")
    one_line_error(memchat("--db", str(db_path), *args))


# -- message bodies --------------------------------------------------------------------------

# Any text without lone surrogates: control characters, NUL, JSON's specials, astral planes.
bodies = st.text(max_size=3000) | st.sampled_from(["\x00", "\\u0000", '"}]', "\r\n", "\x1b[2J"])


@FUZZ
@given(body=bodies)
async def test_message_bodies_round_trip_exactly(store: Store, body: str) -> None:
    session = store.session("sara", "bodies")
    item = user_message(body)
    answer = {"role": "assistant", "content": [{"type": "output_text", "text": body[::-1]}]}
    async with session.turn():
        await session.add_items([item])
        await session.add_items([answer])
    last = store.last_turn(session.info)
    assert last is not None and last.items == [item, answer]


async def test_a_huge_message_round_trips_through_the_store(store: Store) -> None:
    huge = "é𝄞x\n" * 500_000  # two million characters, about 5 MB of UTF-8
    session = store.session("sara")
    async with session.turn():
        await session.add_items([user_message(huge)])
    assert store.get_items(session.info) == [user_message(huge)]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (100_001, "limit is 100,000 (MEMCHAT_MAX_INPUT_CHARS)"),
        (99_000, "over this model's context budget"),
    ],
    ids=["over-the-character-limit", "over-the-context-budget"],
)
def test_a_huge_message_is_refused_in_one_line(db_path: Path, size: int, message: str) -> None:
    text = ("lorem ipsum dolor sit amet " * 4000)[:size]
    result = memchat("--db", str(db_path), "ask", "-u", "sara", "-", input=text)
    assert message in one_line_error(result)
    assert all(turns == [] for *_, turns in snapshot(db_path))


def test_binary_ish_text_on_stdin_is_kept_exactly(db_path: Path) -> None:
    # No "\r\n": stdin is read in text mode, which turns it into "\n" as Python always does.
    text = "\x00\x07\x1b[31mred\x1b[0m\x0b\x0c\ttabs \u202e 𝄞 \ufeff \u2028 end\n"
    result = memchat("--db", str(db_path), "ask", "-u", "sara", "-", input=text, replies=("ok",))
    assert result.exit_code == 0, result.output
    with SQLiteStore(db_path) as store:
        (info,) = store.list_sessions("sara")
        assert store.get_items(info)[0]["content"] == text


@pytest.mark.parametrize("text", ["", "   \n\t "], ids=["empty", "blank"])
def test_an_empty_message_is_refused(db_path: Path, text: str) -> None:
    assert "the message is empty" in one_line_error(
        memchat("--db", str(db_path), "ask", "-u", "sara", "-", input=text)
    )


def test_invalid_utf8_on_stdin_is_refused_when_python_decodes_strictly(db_path: Path) -> None:
    result = memchat("--db", str(db_path), "ask", "-u", "sara", "-", input=b"caf\xe9 \xff\xfe")
    assert "stdin is not valid UTF-8" in one_line_error(result)
    assert snapshot(db_path) == []


def test_lone_surrogates_are_refused_by_the_store(store: Store) -> None:
    info = store.ensure_session("sara", "default")
    with pytest.raises(MemchatError):
        store.commit_turn(info, [user_message("caf\udce9")])
    assert store.get_turns(info) == []


def test_invalid_utf8_in_argv_is_a_one_line_error(db_path: Path) -> None:
    result = memchat("--db", str(db_path), "ask", "-u", "sara", "caf\udce9", replies=("ok",))
    one_line_error(result)
    assert all(turns == [] for *_, turns in snapshot(db_path))


# The real CLI in a process of its own, with a scripted model: for what only a real process
# shows (how Python decodes stdin, which user runs it).
SCRIPTED_MEMCHAT = """
import sys
from agents.testing import ScriptedModel, assistant_message
from memchat.cli import cli
from memchat.cli.app import App
from memchat.models import ModelChoice

model = ScriptedModel([[assistant_message("scripted reply")] for _ in range(3)])
app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
cli.main(sys.argv[1:], prog_name="memchat", obj=app)
"""


def memchat_process(
    *args: str, stdin: bytes = b"", home: Path, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    # C.UTF-8, as in most containers: Python then decodes stdin with surrogateescape.
    env = {**os.environ, "MEMCHAT_HOME": str(home), "LC_ALL": "C.UTF-8"}
    # setpriv rather than subprocess's user=, which this sandbox's python cannot exec under.
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_nobody else []
    return subprocess.run(
        [*nobody, sys.executable, "-c", SCRIPTED_MEMCHAT, *args],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        env=env,
        cwd=home,
        timeout=60,
    )


def test_invalid_utf8_on_a_real_stdin_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    done = memchat_process(
        "--db", str(db), "ask", "-u", "sara", "-", stdin=b"caf\xe9 \xff\n", home=tmp_path
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 1 and done.stderr.startswith("Error: ")


# -- import files ----------------------------------------------------------------------------


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    """A real export: two users, three sessions, unicode, a multi-item turn."""
    path = tmp_path / "export.jsonl"
    with SQLiteStore(tmp_path / "source.db") as source:
        for user, session_id, count in (("sara", "a", 3), ("sara", "b", 1), ("ali", "a", 2)):
            info = source.create_session(user, session_id, title=f"Zoë's {session_id} 𝄞")
            for n in range(count):
                answer = {"role": "assistant", "content": f'réponse {n}\n\t"}}'}
                source.commit_turn(info, [user_message(f"message {n} \x00"), answer])
        chosen = [s for user in ("sara", "ali") for s in source.list_sessions(user)]
        with path.open("w", encoding="utf-8") as out:
            write_jsonl(session_records(source, chosen), out)
    return path


@pytest.fixture
def existing(db_path: Path) -> list[Any]:
    """A database that already holds a conversation; failed imports must leave it as is."""
    with SQLiteStore(db_path) as store:
        store.commit_turn(store.ensure_session("sara", "kept"), [user_message("keep me")])
    return snapshot(db_path)


def failed_import(db: Path, path: Path) -> str:
    return one_line_error(memchat("--db", str(db), "import", str(path)))


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_import_nothing(
    db_path: Path, existing: list[Any], tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "random.jsonl"
    path.write_bytes(data)
    failed_import(db_path, path)
    assert snapshot(db_path) == existing


@settings(FUZZ, max_examples=40)
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_export_imports_nothing_or_exactly_its_whole_lines(
    export_file: Path, cut: float
) -> None:
    full = export_file.read_bytes()
    data = full[: int(len(full) * cut)]
    with fresh_dir() as scratch:
        path, db = scratch / "cut.jsonl", scratch / "into.db"
        path.write_bytes(data)
        result = memchat("--db", str(db), "import", str(path))
        # Only the whole file imports (perhaps without its final newline): a cut at any
        # earlier line's end lacks the end line.
        whole = data.rstrip(b"\n") == full.rstrip(b"\n")
        if result.exit_code != 0:
            assert not whole, result.output
            assert str(path) in one_line_error(result)
            assert snapshot(db) == []
            return
        assert whole, f"a file cut at byte {len(data)} of {len(full)} imported"
        assert snapshot(db) != []


# U+2028, U+2029 and U+0085 end a line for str.splitlines(), but not in an export.
LINE_BREAKERS = "\u2028\u2029\x85"
# Any text without lone surrogates (which no store can keep as text).
exportable = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)


@FUZZ
@given(user_text=exportable, title=exportable)
def test_export_then_import_gives_the_same_conversation(
    store: Store, tmp_path: Path, user_text: str, title: str
) -> None:
    info = store.create_session("sara", title=title)
    answer = {"role": "assistant", "content": [{"type": "output_text", "text": user_text}]}
    store.commit_turn(info, [user_message(user_text), answer])
    path = tmp_path / "round.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_jsonl(session_records(store, [info]), out)
    store.delete_session("sara", info.id)
    import_file(store, path, None)
    back = store.get_session("sara", info.id)
    # A title is kept as every backend keeps text: without NUL (base.clean_text).
    assert (back.title, [t.items for t in store.get_turns(back)]) == (
        title.replace("\x00", ""),
        [[user_message(user_text), answer]],
    )


@pytest.mark.parametrize("char", list(LINE_BREAKERS), ids=["U+2028", "U+2029", "U+0085"])
def test_export_then_import_keeps_unicode_line_separators(
    store: Store, tmp_path: Path, char: str
) -> None:
    info = store.create_session("sara", "s")
    store.commit_turn(info, [user_message(f"one{char}two")])
    path = tmp_path / "round.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_jsonl(session_records(store, [info]), out)
    store.delete_session("sara", "s")
    import_file(store, path, None)
    assert store.get_items(store.get_session("sara", "s")) == [user_message(f"one{char}two")]


def test_an_export_cut_after_a_whole_line_is_refused(
    export_file: Path, db_path: Path, tmp_path: Path
) -> None:
    lines = export_file.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]), encoding="utf-8")
    failed_import(db_path, cut)


HEADER = '{"type": "memchat-export", "version": 1}\n'
# A good session (lines 2 and 3 after the header): it must not be imported either.
GOOD = (
    '{"type": "session", "user": "new", "id": "s1"}\n'
    '{"type": "turn", "items": [{"role": "user", "content": "x"}]}\n'
)
SESSION = '{"type": "session", "user": "u", "id": "s"}\n'
WRONG_SCHEMA = {
    "no header": (GOOD, ":1: not a memchat export"),
    "newer version": (HEADER.replace("1", "3") + GOOD, ":1: unsupported version 3"),
    "not an object": (HEADER + GOOD + "[1, 2]\n", ":4: expected a JSON object"),
    "session without id": (HEADER + GOOD + '{"type": "session"}\n', ":4: bad session line"),
    "id with a slash": (HEADER + GOOD + SESSION.replace('"s"', '"a/b"'), ":4: bad session"),
    "turn first": (HEADER + '{"type": "turn", "items": [{}]}\n', ":2: a turn before any"),
    "items not a list": (HEADER + GOOD + '{"type": "turn", "items": 5}\n', ":4: a turn needs"),
    "item not an object": (HEADER + GOOD + '{"type": "turn", "items": ["hi"]}\n', ":4: a turn"),
    "unknown line": (HEADER + GOOD + '{"type": "bogus"}\n', ":4: unknown line type 'bogus'"),
    "same session twice": (HEADER + GOOD + GOOD, ":4: session new/s1 already appeared on line 2"),
    "already stored": (HEADER + GOOD + SESSION.replace('"u"', '"sara"').replace('"s"', '"kept"')
                       + '{"type": "end", "sessions": 2, "turns": 1}\n',
                       "user 'sara' already has a session 'kept'"),
    "no end line": (HEADER + GOOD, "no end line: the file is cut short"),
    "wrong counts": (HEADER + GOOD + '{"type": "end", "sessions": 1, "turns": 2}\n',
                     ":4: the end line counts 1 sessions, 2 turns and 0 facts; the file holds"
                     " 1, 1 and 0"),
    "summary first": (HEADER + '{"type": "summary", "through_seq": 1, "text": "t"}\n',
                      ":2: a summary before any session line"),
    "summary past the turns": (HEADER + GOOD + '{"type": "summary", "through_seq": 2,'
                               ' "text": "t"}\n', ":4: a summary of turns up to 2"),
    "fact without a value": (HEADER + GOOD + '{"type": "fact", "user": "u", "key": "k"}\n',
                             ":4: a fact needs a key and a value"),
    "fact of a bad user": (HEADER + GOOD + '{"type": "fact", "user": "a/b", "key": "k",'
                           ' "value": "v"}\n', ":4: bad fact line"),
    "hidden past the items": (HEADER + GOOD + '{"type": "turn", "items": [{"role": "user",'
                              ' "content": "y"}], "hidden": [1]}\n', ":4: hidden must list"),
    "facts miscounted": (HEADER + GOOD + '{"type": "end", "sessions": 1, "turns": 1,'
                         ' "facts": 1}\n', ":4: the end line counts 1 sessions, 1 turns and 1"),
}  # fmt: skip


@pytest.mark.parametrize("case", WRONG_SCHEMA.values(), ids=WRONG_SCHEMA.keys())
def test_a_wrong_schema_says_where_and_imports_nothing(
    db_path: Path, existing: list[Any], tmp_path: Path, case: tuple[str, str]
) -> None:
    body, where = case
    path = tmp_path / "bad.jsonl"
    path.write_text(body, encoding="utf-8")
    assert where in failed_import(db_path, path)
    assert snapshot(db_path) == existing


def test_an_import_with_a_lone_surrogate_is_a_one_line_error(
    db_path: Path, existing: list[Any], tmp_path: Path
) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_text(
        '{"type": "memchat-export", "version": 1}\n'
        '{"type": "session", "user": "u", "id": "s"}\n'
        '{"type": "turn", "items": [{"role": "user", "content": "\\ud800"}]}\n'
    )
    failed_import(db_path, path)
    assert snapshot(db_path) == existing


def sdk_database(path: Path) -> Path:
    """An Agents SDK SQLiteSession database, written by the SDK itself."""

    async def write() -> None:
        session = SQLiteSession("guide", path)
        await session.add_items([user_message("Hi, my name is Sara")])
        await session.add_items([{"role": "assistant", "content": "Hello Sara!"}])
        session.close()

    asyncio.run(write())
    return path


def add_sdk_row(path: Path, data: Any) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO agent_messages (session_id, message_data) VALUES ('guide', ?)", (data,)
        )
    conn.close()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("{not json", "agent_messages row 3 is not valid JSON"),
        (b"\xff\xfe", "agent_messages row 3 is not valid JSON"),
        ("DROP", "no agent_messages table"),
        ("GARBAGE", "cannot read"),
    ],
    ids=["bad-json", "bad-utf8", "no-messages-table", "garbage-after-header"],
)
def test_a_damaged_sdk_database_imports_nothing(
    db_path: Path, existing: list[Any], tmp_path: Path, damage: Any, message: str
) -> None:
    sdk = sdk_database(tmp_path / "conversion.db")
    if damage == "DROP":
        with sqlite3.connect(sdk) as conn:
            conn.execute("DROP TABLE agent_messages")
        conn.close()
    elif damage == "GARBAGE":
        data = bytearray(sdk.read_bytes())
        data[16:] = os.urandom(len(data) - 16)
        sdk.write_bytes(bytes(data))
    else:
        add_sdk_row(sdk, damage)
    result = memchat("--db", str(db_path), "import", str(sdk), "--user", "sara")
    assert message in one_line_error(result)
    assert snapshot(db_path) == existing


@pytest.mark.parametrize("row", ["42", '"text"', "[]", "null"])
def test_sdk_rows_that_are_not_items_are_refused(
    db_path: Path, existing: list[Any], tmp_path: Path, row: str
) -> None:
    sdk = sdk_database(tmp_path / "conversion.db")
    add_sdk_row(sdk, row)
    result = memchat("--db", str(db_path), "import", str(sdk), "--user", "sara")
    assert "agent_messages row 3" in one_line_error(result)
    assert snapshot(db_path) == existing


# -- damaged, read-only and full databases ---------------------------------------------------

STAMP = "2026-01-01T00:00:00.000000Z"


@pytest.fixture(scope="module")
def pristine_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real database of three sessions, 40 turns each, some spanning overflow pages."""
    path = tmp_path_factory.mktemp("pristine") / "pristine.db"
    rng = random.Random(0)
    with SQLiteStore(path) as store:
        for k in range(3):
            info = store.create_session("sara", f"s{k}", created_at=STAMP)
            for n in range(40):
                items: list[Any] = [
                    user_message(f"m{n} " + "é" * rng.randrange(3000)),
                    reply_item("r" * 300),
                ]
                store.commit_turn(info, items, created_at=STAMP)
    return path  # closing the last connection checkpointed the WAL into the file


def reply_item(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "output_text", "text": text}]}


@settings(FUZZ, max_examples=40, derandomize=True)
@given(
    where=st.floats(0.02, 0.98),
    length=st.sampled_from([1, 8, 64, 512]),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_corrupted_database_file_gives_store_errors_only(
    pristine_db: Path, where: float, length: int, seed: int
) -> None:
    """Random bytes written over the middle of a real database, then everything read."""
    data = bytearray(pristine_db.read_bytes())
    start = int(len(data) * where)
    data[start : start + length] = random.Random(seed).randbytes(length)
    with fresh_dir() as scratch:
        path = scratch / "corrupt.db"
        path.write_bytes(bytes(data))
        try:
            with SQLiteStore(path) as store:
                for info in store.list_sessions("sara"):
                    store.get_turns(info)
                    store.recent_turns(info, 0, 20)
                    store.commit_turn(info, [user_message("after the damage")])
        except MemchatError:
            pass  # StoreError or CorruptData: what a damaged file must give
        result = memchat("--db", str(path), "sessions", "show", "s1", "-u", "sara", "--json")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def retype_items_data(db: Path, value: Any) -> None:
    """Store ``value`` in items.data with its own type, as a flipped type byte would."""
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()
        untyped = sql.replace("data TEXT NOT NULL", "data")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'items'", (untyped,))
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("UPDATE items SET data = ? WHERE id = 1", (value,))


@pytest.mark.parametrize("value", [42, 4.2, None], ids=["integer", "real", "null"])
def test_an_item_of_the_wrong_type_is_corrupt_data(db_path: Path, value: Any) -> None:
    with SQLiteStore(db_path) as store:
        store.commit_turn(store.ensure_session("sara", "s"), [user_message("hello")])
    retype_items_data(db_path, value)
    with SQLiteStore(db_path) as store, pytest.raises(CorruptData, match="item 1"):
        store.get_items(store.get_session("sara", "s"))


def test_an_undecodable_item_is_a_short_one_line_error(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.commit_turn(store.ensure_session("sara", "s"), [user_message("hello")])
    damaged = b'{"role": "user", "content": "my secret\nsecond line ' + b"\xff" * 5000 + b'"}'
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE items SET data = CAST(? AS TEXT)", (damaged,))
    output = one_line_error(memchat("--db", str(db_path), "sessions", "show", "s", "-u", "sara"))
    assert "my secret" not in output and len(output) < 300


def failed_after_the_reply(result: Result) -> str:
    """The last line of a command that streamed a reply and then failed with a message."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    last = result.output.splitlines()[-1]
    assert "Error: " in last, result.output
    return last


def chattr(flag: str, *paths: Path) -> bool:
    try:
        done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    except FileNotFoundError:
        return False
    return done.returncode == 0


@pytest.fixture
def chatted_db(db_path: Path) -> Path:
    """A database with one turn whose session is its user's current one."""
    with SQLiteStore(db_path) as store:
        info = store.open_session("sara", "default", new=True)
        asyncio.run(one_turn(store, info.id, "kept"))
    return db_path


async def one_turn(store: Store, session_id: str, text: str) -> None:
    """A turn through the turn path (which also creates the session's lock file)."""
    session = store.session("sara", session_id)
    async with session.turn():
        await session.add_items([user_message(text), reply_item(f"re {text}")])


def test_an_immutable_database_reads_and_refuses_writes(chatted_db: Path) -> None:
    """Root ignores file modes, but not the immutable attribute (chattr +i)."""
    before = snapshot(chatted_db)
    if not chattr("+i", chatted_db):
        pytest.skip("chattr +i is not available here (needs root and a supporting filesystem)")
    try:
        shown = memchat("--db", str(chatted_db), "sessions", "show", "default", "-u", "sara")
        assert shown.exit_code == 0 and "kept" in shown.output, shown.output
        args = ("ask", "-u", "sara", "-s", "default", "more")
        result = memchat("--db", str(chatted_db), *args, replies=("ok",))
        assert "attempt to write a readonly database" in failed_after_the_reply(result)
    finally:
        chattr("-i", chatted_db)
    assert snapshot(chatted_db) == before


@pytest.mark.parametrize(
    "in_use",
    [False, True],
    ids=["closed", "in-use-by-its-owner"],
)
def test_a_database_of_another_user_refuses_writes_in_one_line(in_use: bool) -> None:
    """Root runs memchat as nobody against root's files: the read-only case root can make."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to run memchat as another user")
    shared = Path(tempfile.mkdtemp(prefix="memchat-ro-"))
    try:
        db = shared / "memchat.db"
        with SQLiteStore(db) as owner:
            info = owner.open_session("sara", "default", new=True)
            asyncio.run(one_turn(owner, info.id, "kept"))
            if not in_use:
                owner.close()  # the last connection's close removes the -wal and -shm files
            for path in (shared, *shared.rglob("*")):
                path.chmod(0o755 if path.is_dir() else 0o644)
            args = ("--db", str(db), "ask", "-u", "sara", "-s", "default", "more")
            done = memchat_process(*args, home=shared, as_nobody=True)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
        assert "readonly database" in done.stderr
        ((*_, turns),) = snapshot(db)
        assert [texts_of(items) for items in turns] == [["kept", "re kept"]]
    finally:
        shutil.rmtree(shared)


async def test_a_full_database_refuses_the_turn_and_keeps_the_rest(
    sqlite_store: SQLiteStore,
) -> None:
    """SQLite's max_page_count makes the database full as a full disk would."""
    for n in range(3):
        await one_turn(sqlite_store, "default", f"turn {n}")
    session = sqlite_store.session("sara")
    before = sqlite_store.get_turns(session.info)
    (pages,) = sqlite_store._conn.execute("PRAGMA page_count").fetchone()
    sqlite_store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="database or disk is full"):
        await one_turn(sqlite_store, "default", "x" * 50_000)
    assert sqlite_store.get_turns(session.info) == before
    sqlite_store._conn.execute("PRAGMA max_page_count = 1073741823")
    await one_turn(sqlite_store, "default", "x" * 50_000)
    assert len(sqlite_store.get_turns(session.info)) == 4


def test_the_repl_on_a_full_database_says_so_and_retry_stores_the_turn(chatted_db: Path) -> None:
    app: App

    def make_room(call: ModelCall) -> Any:
        # Space comes back while the user retries (the turn is written after the reply).
        app.store._conn.execute("PRAGMA max_page_count = 1073741823")  # type: ignore[attr-defined]
        return reply("Hello again")

    model = ScriptedModel([reply("Hello"), ModelStep.respond(make_room)])
    app = App(
        settings=load_settings().with_overrides(db=str(chatted_db)),
        model_factory=lambda _: ModelChoice(model, "scripted", "test"),
    )
    conn = app.store._conn  # type: ignore[attr-defined]
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    message = "hello " + "x" * 8_000  # a new page, well inside the context budget
    script = f"{message}\n/retry\n"
    result = CliRunner().invoke(cli, ["chat", "-u", "sara", "-s", "default"], obj=app, input=script)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "database or disk is full (/retry sends it again)" in result.output
    with SQLiteStore(chatted_db) as store:
        turns = [texts_of(t.items) for t in store.get_turns(store.get_session("sara", "default"))]
    assert turns == [["kept", "re kept"], [message, "Hello again"]]


def test_an_error_after_a_streamed_reply_starts_on_its_own_line(chatted_db: Path) -> None:
    model = ScriptedModel([reply("Hello")])
    app = App(
        settings=load_settings().with_overrides(db=str(chatted_db)),
        model_factory=lambda _: ModelChoice(model, "scripted", "test"),
    )
    conn = app.store._conn  # type: ignore[attr-defined]
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    args = ["ask", "-u", "sara", "-s", "default", "x" * 8_000]
    result = CliRunner().invoke(cli, args, obj=app)
    assert failed_after_the_reply(result).startswith("Error: "), result.output


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs: a disk that really fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_refuses_the_turn_and_keeps_every_earlier_one(tiny_disk: Path) -> None:
    db = tiny_disk / "memchat.db"
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 200_000)  # deleted later, to make room again
    kept: list[str] = []
    with SQLiteStore(db) as store:
        store.open_session("sara", "default", new=True)
        with pytest.raises(StoreError, match="database or disk is full"):
            for n in range(1000):
                asyncio.run(one_turn(store, "default", f"{n} " + "x" * 20_000))
                kept.append(f"{n} " + "x" * 20_000)
        assert kept, "some turns fit before the disk was full"
        args = ("ask", "-u", "sara", "-s", "default", "one more")
        result = memchat("--db", str(db), *args, replies=("ok",))
        assert "database or disk is full" in failed_after_the_reply(result)
        filler.unlink()
        asyncio.run(one_turn(store, "default", "after the cleanup"))
    with SQLiteStore(db) as store:
        turns = store.get_turns(store.get_session("sara", "default"))
        assert [t.items[0]["content"] for t in turns] == [*kept, "after the cleanup"]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
