"""The embedded model's prompt state, kept on disk per session so a new process starts warm.

llama.cpp reads a prompt at about 3 ms a token on 2 cores, and keeps what it read (the KV
cache) only in memory: a ``memchat ask`` in a new process re-read its whole context
(1,500 tokens: 5-8 s) before the first word. After each reply the state of the
conversation so far (its tokens and their KV cache) is written to one file per session
(about 12 KB a token: 20-25 MB); the session's next turn, in whatever process, loads it
back when it shares a longer prefix with the new prompt than what the process holds.

Safety: the file records the tokens its cache was computed from, the model it was
computed by, and a checksum. Only the part of it whose tokens equal the new prompt's start
is kept (the rest is removed from the cache before generation), so a file is never used
for another prompt; a file that fails any check is ignored and deleted. The directory
keeps at most ``max_bytes`` (least recently used files go first), and
:func:`forget_prompt_states` removes a user's or a session's files.

The session a model call belongs to reaches the model through :func:`prompt_session`
(``call_context.py``). Calls outside one (a library ``Runner.run``) keep only the
in-memory cache.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .call_context import current_session, current_turn_only, prompt_session

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "MAX_BYTES",
    "MIN_TOKENS",
    "PromptStates",
    "common_prefix",
    "current_session",
    "current_turn_only",
    "forget_prompt_states",
    "prompt_session",
]

log = logging.getLogger(__name__)

# A few sessions' worth (a 2,000-token state takes about 24 MB).
MAX_BYTES = 256 * 1024 * 1024
# Shorter prompts are read anew in well under a second: not worth a file.
MIN_TOKENS = 256
# Load a file only when it saves reading at least this many tokens over what the process
# already holds (loading 24 MB takes about 50 ms, the time of some 20 tokens).
MIN_GAIN = 32
_MAGIC = b"MCKV"
_VERSION = 1
_SUFFIX = ".kv"
# magic, header length; then the JSON header, the tokens (int32) and llama.cpp's state.
_PREAMBLE = struct.Struct("<4sI")


def forget_prompt_states(directory: Path, user: str, session_id: str | None = None) -> None:
    """Delete the saved prompt state of one session of ``user``, or of all their sessions.

    For whoever deletes sessions and users (``directory`` is ``$MEMCHAT_HOME/prompt-states``).
    """
    folder = directory / _digest(user)
    if session_id is not None:
        (folder / f"{_digest(session_id)}{_SUFFIX}").unlink(missing_ok=True)
        return
    for path in folder.glob("*") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
    with suppress(OSError):
        folder.rmdir()


def _digest(text: str) -> str:
    # Names of users and sessions do not appear on disk, only their hashes.
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class _Header:
    """What a state file says about itself."""

    version: int
    model: str
    tokens: int
    state_bytes: int
    crc: int


class PromptStates:
    """Prompt state files under ``directory``, one per session, for the model ``model_id``."""

    def __init__(self, directory: Path, model_id: str, *, max_bytes: int = MAX_BYTES) -> None:
        self.directory = directory
        self.model_id = model_id
        self.max_bytes = max_bytes

    def path(self, user: str, session_id: str) -> Path:
        """The state file of one session."""
        return self.directory / _digest(user) / f"{_digest(session_id)}{_SUFFIX}"

    def forget(self, user: str, session_id: str | None = None) -> None:
        """Delete the state of one session of ``user``, or of all their sessions."""
        forget_prompt_states(self.directory, user, session_id)

    # -- saving ------------------------------------------------------------------------

    def save(self, llama: Llama, user: str, session_id: str) -> None:
        """Write what ``llama`` holds now (its tokens and their KV cache) as the session's."""
        count = int(llama.n_tokens)
        if count < MIN_TOKENS:
            return
        tokens = [int(t) for t in llama.input_ids[:count]]
        state = _read_state(llama)
        header = json.dumps(
            {
                "version": _VERSION,
                "model": self.model_id,
                "tokens": count,
                "state_bytes": len(state),
                "crc": zlib.crc32(state, zlib.crc32(_pack(tokens))),
            }
        ).encode()
        target = self.path(user, session_id)
        # The state holds the conversation's tokens: its owner alone may read it (mkstemp
        # makes the file 0600).
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        # Written aside and renamed into place, so a reader never sees half a file.
        fd, temp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_PREAMBLE.pack(_MAGIC, len(header)))
                out.write(header)
                out.write(_pack(tokens))
                out.write(state)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._trim(keep=target)

    def _trim(self, keep: Path) -> None:
        """Delete the least recently used files until the directory fits ``max_bytes``."""
        files = []
        for path in self.directory.glob(f"*/*{_SUFFIX}"):
            with suppress(OSError):
                stat = path.stat()
                files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

    # -- loading -----------------------------------------------------------------------

    def restore(self, llama: Llama, user: str, session_id: str, prompt: Sequence[int]) -> int:
        """Load the session's state into ``llama`` if it spares reading part of ``prompt``.

        Returns how many of the prompt's tokens are now in the cache from the file (0 if
        it was not used). Only those are kept: llama.cpp's cache past them is removed.
        """
        path = self.path(user, session_id)
        held = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt)
        try:
            found = self._read(path, prompt, held)
        except (OSError, ValueError) as exc:
            log.info("ignored the prompt state %s: %s", path.name, exc)
            path.unlink(missing_ok=True)
            return 0
        if found is None:
            return 0
        tokens, state = found
        shared = common_prefix(tokens, prompt)
        if not _write_state(llama, state):
            # llama.cpp refused the data (another build's layout): start from nothing.
            _clear(llama)
            path.unlink(missing_ok=True)
            return 0
        llama.input_ids[:shared] = tokens[:shared]
        llama.n_tokens = shared
        # The logits llama.cpp holds are not those of this prefix's end: generate() must
        # read at least one token before it samples.
        cast(Any, llama)._requires_eval = True
        # The cache past the shared prefix belongs to another continuation: drop it.
        _drop_after(llama, shared)
        with suppress(OSError):
            os.utime(path)
        return shared

    def _read(self, path: Path, prompt: Sequence[int], held: int) -> tuple[list[int], bytes] | None:
        """The file's tokens and state if it is sound and worth loading, else None."""
        try:
            file = path.open("rb")
        except FileNotFoundError:
            return None
        with file:
            magic, size = _PREAMBLE.unpack(_read_exactly(file, _PREAMBLE.size))
            if magic != _MAGIC:
                raise ValueError("not a prompt state file")
            header = _parse_header(_read_exactly(file, size))
            if header.version != _VERSION or header.model != self.model_id:
                raise ValueError("made by another model or version")
            packed = _read_exactly(file, 4 * header.tokens)
            tokens = list(struct.unpack(f"<{header.tokens}i", packed))
            if common_prefix(tokens, prompt) < held + MIN_GAIN:
                return None
            state = _read_exactly(file, header.state_bytes)
            if file.read(1):
                raise ValueError("longer than its header says")
        if zlib.crc32(state, zlib.crc32(packed)) != header.crc:
            raise ValueError("checksum mismatch")
        return tokens, state


def _parse_header(raw: bytes) -> _Header:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("bad header")
    try:
        header = _Header(
            version=int(data["version"]),
            model=str(data["model"]),
            tokens=int(data["tokens"]),
            state_bytes=int(data["state_bytes"]),
            crc=int(data["crc"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError("bad header") from exc
    if header.tokens < 0 or header.state_bytes < 0:
        raise ValueError("bad header")
    return header


def _read_exactly(file: Any, size: int) -> bytes:
    data: bytes = file.read(size)
    if len(data) != size:
        raise ValueError("truncated")
    return data


def _pack(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# -- llama.cpp -----------------------------------------------------------------------------
# Sequence 0 is the only one llama-cpp-python's Llama uses; its state is the KV cache
# alone, without the logits a whole-context state also carries.


def _read_state(llama: Llama) -> bytes:
    from llama_cpp import llama_cpp as capi

    size = capi.llama_state_seq_get_size(llama.ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = capi.llama_state_seq_get_data(llama.ctx, buffer, size, 0)
    return bytes(buffer)[:written]


def _write_state(llama: Llama, state: bytes) -> bool:
    from llama_cpp import llama_cpp as capi

    _clear(llama)
    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    return bool(capi.llama_state_seq_set_data(llama.ctx, buffer, len(state), 0) == len(state))


def _clear(llama: Llama) -> None:
    from llama_cpp import llama_cpp as capi

    llama.n_tokens = 0
    capi.llama_memory_clear(capi.llama_get_memory(llama.ctx), True)


def _drop_after(llama: Llama, position: int) -> None:
    from llama_cpp import llama_cpp as capi

    capi.llama_memory_seq_rm(capi.llama_get_memory(llama.ctx), -1, position, -1)
