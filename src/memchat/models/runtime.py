"""llama.cpp in this process: one loaded ``Llama`` per model file, shared by every user.

``llama_cpp`` is imported lazily, so this module imports without the ``local`` extra.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import MemchatError

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "DEFAULT_N_CTX",
    "INSTALL_HINT",
    "Loaded",
    "LocalModelError",
    "LocalModelUnavailable",
    "PromptHook",
    "cpu_has_amx",
    "load_llama",
    "load_model",
]

DEFAULT_N_CTX = 4096
INSTALL_HINT = "pip install 'memchat[local]'"


class LocalModelError(MemchatError):
    """The embedded model cannot run this request."""


class LocalModelUnavailable(LocalModelError):
    """llama-cpp-python is not installed."""


PromptHook = Callable[[Sequence[int]], object]
"""Called with a prompt's tokens just before llama.cpp reads them (under the lock)."""


@dataclass
class Loaded:
    """One loaded model and the lock that serialises generation on it."""

    llama: Llama
    # A Llama holds one KV cache and one sampling state, so two generations at once would
    # corrupt each other; tokenising only reads the vocabulary and needs no lock.
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def before_prompt(self, hook: PromptHook | None) -> Iterator[None]:
        """Call ``hook`` with the prompt's tokens of each generation started inside."""
        llama = cast(Any, self.llama)
        llama.before_prompt = hook
        try:
            yield
        finally:
            llama.before_prompt = None


_LOADED: dict[tuple[str, int, int], Loaded] = {}
_LOADING = threading.Lock()


def load_llama(path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int = 2) -> Llama:
    """Return the process-wide ``Llama`` for ``path``, loading it on first use."""
    return load_model(path, n_ctx, n_threads).llama


def load_model(path: Path, n_ctx: int, n_threads: int) -> Loaded:
    """Return the process-wide loaded model for ``path``, loading it on first use."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            try:
                from llama_cpp import Llama
                from llama_cpp import llama_cpp as capi
            except ImportError as exc:
                raise LocalModelUnavailable(
                    f"The local model needs llama-cpp-python; install it with: {INSTALL_HINT}"
                ) from exc
            if not path.is_file():
                raise LocalModelError(f"Model file {path} does not exist.")
            with _without_repacking(capi, when=cpu_has_amx()):
                llama = _hooked(Llama)(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False
                )
            # Freed at exit while the interpreter still works: left to the garbage
            # collector at shutdown, llama.cpp's destructor fails on half-torn-down modules.
            atexit.register(llama.close)
            loaded = _LOADED[key] = Loaded(llama)
        return loaded


def _hooked(llama_class: type[Llama]) -> type[Llama]:
    """``Llama`` that calls its ``before_prompt`` hook with each prompt's tokens.

    The chat completion formats and tokenizes the messages itself and hands the tokens to
    ``generate``, which keeps whatever prefix of them its KV cache already holds: the
    hook runs between the two, where a saved cache can be loaded (``prompt_state.py``).
    """

    class HookedLlama(llama_class):  # type: ignore[valid-type,misc]
        before_prompt: PromptHook | None = None

        def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
            if self.before_prompt is not None:
                self.before_prompt(tokens)
            return super().generate(tokens, *args, **kwargs)

    return HookedLlama


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU offers Intel AMX (Sapphire Rapids and later); False where unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_int8" in line.split() for line in text.splitlines()
    )


@contextmanager
def _without_repacking(capi: Any, *, when: bool) -> Iterator[None]:
    """Load without llama.cpp's weight repacking ``when`` the CPU has AMX.

    llama.cpp repacks weights for AMX when the CPU has it, and its AMX matrix product then
    crashes the process on the first prompt on some machines with Q4_K_M models like ours
    (ggml-org/llama.cpp#20824, unfixed; seen here as SIGSEGV in ggml_backend_amx_mul_mat).
    ``Llama`` takes no option for it, so the default model parameters it starts from
    (``capi``: the ``llama_cpp.llama_cpp`` bindings) are swapped for the duration of the
    load (under ``_LOADING``, so no other load sees them).
    """
    if not when:
        yield
        return
    default = capi.llama_model_default_params

    def without_repacking() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    capi.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        capi.llama_model_default_params = default
