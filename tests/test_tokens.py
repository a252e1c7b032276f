"""Counting tokens: the estimate, and a model's own counter."""

from __future__ import annotations

from memchat.memory.tokens import counter_for, estimate_tokens


class CountingModel:
    """A model with its own tokenizer, which notes every text it is asked to count."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def count_tokens(self, text: str) -> int:
        self.asked.append(text)
        return len(text.split())


def test_a_models_own_counter_is_used_and_each_text_counted_once() -> None:
    model = CountingModel()
    count = counter_for(model)
    assert [count("a b c"), count("a b c"), count("d")] == [3, 3, 1]
    assert model.asked == ["a b c", "d"]
    # Another model (another tokenizer) has counts of its own.
    other = CountingModel()
    assert counter_for(other)("a b c") == 3 and other.asked == ["a b c"]


def test_a_model_without_a_tokenizer_gets_the_estimate() -> None:
    assert counter_for(object()) is estimate_tokens


def test_the_estimate_counts_words_marks_digits_and_other_scripts() -> None:
    assert estimate_tokens("") == 0
    # Five words, one mark: (5 + 0.8) * 1.05, rounded up.
    assert estimate_tokens("I live in Porto now.") == 7
    # A long word counts a little more than a short one; digits one each.
    assert estimate_tokens("extraordinarily") > estimate_tokens("extra")
    assert estimate_tokens("2026") == estimate_tokens("a b c d")
    # Every character of another script is a token (so it is never undercounted).
    assert estimate_tokens("東京都") == 4
