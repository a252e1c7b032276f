"""The embedded model's voice guard (``models/voice.py``), on the real model and tokenizer.

Marked ``model`` like the other tests that load the embedded model; skipped where the
``local`` extra is missing.
"""

from __future__ import annotations

import atexit
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from .helpers import model_reply

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="the embedded model needs the local extra: pip install 'memchat[local]'",
    ),
]

HISTORY = [
    {"role": "user", "content": "I work as a nurse at the city hospital."},
    {"role": "assistant", "content": "That sounds like demanding work."},
    {"role": "user", "content": "I have two cats, Miso and Pixel."},
    {"role": "assistant", "content": "Lovely names."},
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llama_cpp import _utils

    from memchat.models.weights import ensure_default_model

    # llama_cpp opens os.devnull twice at import and never closes it.
    atexit.register(_utils.outnull_file.close)
    atexit.register(_utils.errnull_file.close)
    return ensure_default_model(tmp_path_factory.mktemp("voice-home"))


@pytest.fixture(scope="module")
def llama(model_path: Path) -> Any:
    from memchat.models.local import load_llama

    return load_llama(model_path)


def banned_after(llama: Any, asked: str, reply: str) -> set[str]:
    """Which of a few words the guard bans as the next token after ``reply``."""
    import numpy as np

    from memchat.models.voice import BANNED, voice_guard

    guard = voice_guard(llama, [{"role": "user", "content": asked}])
    assert guard is not None
    prompt = llama.tokenize(f"<|im_start|>user\n{asked}<|im_end|>\n".encode(), special=True)
    guard(prompt, np.zeros(llama.n_vocab(), dtype=np.float32))  # the first call: the prompt
    tokens = prompt + llama.tokenize(reply.encode(), add_bos=False)
    scores = guard(tokens, np.zeros(llama.n_vocab(), dtype=np.float32))
    words = [" I", "I", " my", "My", " mine", " myself", " user", " You", " your", " nurse"]
    ids = {word: llama.tokenize(word.encode(), add_bos=False) for word in words}
    return {word for word, (token,) in ids.items() if scores[token] <= BANNED}


def test_the_first_sentence_cannot_say_i_or_my(llama: Any) -> None:
    assert banned_after(llama, "What is my job?", "") == {
        " I",
        "I",
        " my",
        "My",
        " mine",
        " myself",
    }
    assert " I" in banned_after(llama, "What is my job?", "Yes,")
    assert " my" in banned_after(llama, "What is my job?", "Hello! As a nurse at")


def test_the_reply_does_not_open_on_the_user(llama: Any) -> None:
    assert " user" in banned_after(llama, "Do I have pets?", "The")
    assert " user" not in banned_after(llama, "Do I have pets?", "The cats")


def test_after_the_first_sentence_the_reply_is_free(llama: Any) -> None:
    assert banned_after(llama, "Write my cover letter.", "Sure! Here is a draft:\n\nDear") == set()
    assert banned_after(llama, "What is my job?", "You are a nurse. Also,") == set()


def test_no_guard_for_a_message_not_about_the_user(llama: Any) -> None:
    from memchat.models.voice import voice_guard

    assert voice_guard(llama, [{"role": "user", "content": "Tell a joke about cats."}]) is None


def reply(model_path: Path, question: str, *, guard: bool) -> str:
    from memchat.models.local import LocalModel

    model = LocalModel(model_path, temperature=0.0, guard_voice=guard)
    items = [*HISTORY, {"role": "user", "content": question}]
    return model_reply(model, "You are a helpful assistant.", items, 24)


@pytest.mark.parametrize("question", ["What is my job?", "Do I have any pets?"])
def test_the_model_answers_about_the_user_not_as_them(model_path: Path, question: str) -> None:
    # Greedy, with no reminder, the model speaks as the user ("I am a nurse ...",
    # "Yes, I do have two cats"); with the guard its first sentence speaks to them.
    unguarded = reply(model_path, question, guard=False)
    guarded = reply(model_path, question, guard=True)
    first = guarded.split(".")[0]
    assert " I " in f" {unguarded.split('.')[0]} "
    assert not {"I", "my", "My"} & set(first.replace(",", " ").split()), guarded
    assert "you" in first.lower(), guarded
