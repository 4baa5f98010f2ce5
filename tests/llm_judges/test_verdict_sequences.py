"""Verdict words as token sequences (pure: a toy tokenizer, hand-made log-probabilities)."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest

from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.judges.verdict_sequences import build_verdict_sequences


class ToyTokenizer:
    """Greedy longest-match over a small vocabulary: "YES" is "Y" + "ES", "NO" and "Yes" are one token."""

    vocab: ClassVar[dict[str, int]] = {"Y": 0, "ES": 1, "NO": 2, "Yes": 3, " ": 4, "N": 5, "O": 6, "yes": 7,
                                       "no": 8, "No": 9, "E": 10, "S": 11, "y": 12, "n": 13, "o": 14, "s": 15,
                                       "e": 16, "The": 17}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids: list[int] = []
        while text:
            piece = max((p for p in self.vocab if text.startswith(p)), key=len)
            ids.append(self.vocab[piece])
            text = text[len(piece):]
        return ids

    def decode(self, ids: list[int]) -> str:
        names = {i: p for p, i in self.vocab.items()}
        return "".join(names[i] for i in ids)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)


def rows(probs: dict[int, float], size: int = 18) -> list[float]:
    rest = (1.0 - sum(probs.values())) / (size - len(probs))
    return [math.log(probs.get(i, rest)) for i in range(size)]


def test_multi_token_words_form_a_prefix_tree_and_sum_to_their_generation_probability() -> None:
    tokenizer = ToyTokenizer()
    sequences = build_verdict_sequences(tokenizer, VerdictWords())
    spelled = {tokenizer.decode(list(seq)): side for seq, side in sequences.sequences}
    assert spelled["YES"] is True and spelled["Yes"] is True and spelled["NO"] is False
    assert spelled[" YES"] is True  # " " + "Y" + "ES": three tokens
    assert (0,) in sequences.nodes and (4, 0) in sequences.nodes and sequences.multi_token
    parents = sequences.parents()
    assert all(parents[j] == -1 or len(sequences.nodes[parents[j]]) == len(node) - 1
               for j, node in enumerate(sequences.nodes))
    # P("Y") = 0.5, P("ES" | "Y") = 0.6, P("NO") = 0.1, P("Yes") = 0.05; every other token u after the
    # prompt, 1/18 after an inner node
    first = rows({0: 0.5, 2: 0.1, 3: 0.05})
    node_rows = [rows({1: 0.6}) if node == (0,) else rows({}) for node in sequences.nodes]
    p_yes, p_no = sequences.probabilities(first, node_rows)
    u, after = 0.35 / 15, 1 / 18
    # YES = Y ES; Yes; yes; " YES" = " " Y ES; " Yes"; " yes"
    assert p_yes == pytest.approx(0.5 * 0.6 + 0.05 + u + u * after * after + 2 * u * after, rel=1e-6)
    # NO; No; no; " NO"; " No"; " no"
    assert p_no == pytest.approx(0.1 + 2 * u + 3 * u * after, rel=1e-6)
    assert sequences.greedy_text(first, node_rows, tokenizer.decode) == "YES"


def test_sequences_are_prefix_free_and_match_the_word() -> None:
    sequences = build_verdict_sequences(ToyTokenizer(), VerdictWords())
    seqs = [seq for seq, _ in sequences.sequences]
    assert len(set(seqs)) == len(seqs)
    assert not any(a != b and b[:len(a)] == a for a in seqs for b in seqs)
    assert sequences.side_ids(True) == [3, 7]  # "Yes", "yes": the one-token spellings


def test_a_tokenizer_without_multi_token_spellings_needs_no_tree() -> None:
    class OneTokenWords(ToyTokenizer):
        vocab: ClassVar[dict[str, int]] = {w: i for i, w in enumerate(
            [s + w for s in ("", " ") for w in ("YES", "Yes", "yes", "NO", "No", "no")] + ["x"])}

    sequences = build_verdict_sequences(OneTokenWords(), VerdictWords())
    assert not sequences.multi_token
