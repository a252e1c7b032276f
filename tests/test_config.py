"""Settings: every value arrives with its declared type, and a bad one is a clear error."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from memchat.config import Settings, load_settings
from memchat.errors import ConfigError

# A valid raw value for each kind of setting, and what it must become.
SAMPLES = {
    "int": ("2048", 2048),
    "int | None": ("2048", 2048),
    "bool": ("no", False),
    "Path": ("~/x", Path("~/x").expanduser()),
}


@pytest.mark.parametrize(
    "setting", [f for f in fields(Settings) if f.name != "sources"], ids=lambda f: f.name
)
def test_every_setting_is_read_with_its_type(setting, tmp_path: Path) -> None:
    raw, expected = SAMPLES.get(str(setting.type), ("some text", "some text"))
    settings = load_settings(env={"MEMCHAT_HOME": str(tmp_path), setting.metadata["env"]: raw})
    assert getattr(settings, setting.name) == expected
    assert settings.sources[setting.name] == "environment"


def test_the_same_types_come_from_memchat_toml(tmp_path: Path) -> None:
    (tmp_path / "memchat.toml").write_text("context_tokens = 2048\ncross_session = false\n")
    settings = load_settings(env={"MEMCHAT_HOME": str(tmp_path)})
    assert settings.context_tokens == 2048 and settings.cross_session is False


@pytest.mark.parametrize(
    ("var", "raw", "message"),
    [
        ("MEMCHAT_CONTEXT_TOKENS", "lots", "expected a number, got 'lots'"),
        ("MEMCHAT_CONTEXT_TOKENS", "100", "must be at least 256, got 100"),
        ("MEMCHAT_RECALL_K", "-1", "must be at least 0"),
        ("MEMCHAT_MAX_INPUT_CHARS", "0", "must be at least 1"),
        ("MEMCHAT_CROSS_SESSION", "maybe", "expected true or false"),
    ],
)
def test_a_bad_value_names_the_setting_and_its_source(
    var: str, raw: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=f"{var} from environment: {message}"):
        load_settings(env={"MEMCHAT_HOME": str(tmp_path), var: raw})


def test_every_setting_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    missing = [
        f.metadata["env"]
        for f in fields(Settings)
        if f.name != "sources" and f"| `{f.metadata['env']}` |" not in table
    ]
    assert missing == []
