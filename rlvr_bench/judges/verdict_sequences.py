"""Verdict words as token sequences: P(YES) when "YES" is several tokens.

Many tokenizers split a verdict word: SmolLM2's splits "YES" into "Y" + "ES"
while "NO" is one token; Llama- and Mistral-family tokenizers split words in
similar ways. A first-token distribution then cannot score the word. Here each
*spelling* of a word (case variants, with and without a leading space, see
:meth:`VerdictWords.spellings`) becomes the token sequence the tokenizer writes
for it, plus every single vocabulary token that spells the word. The
probability of a word is the probability that generation *starts* with one of
its sequences, the product of the per-token probabilities along the sequence,
summed over the sequences. The sequences are prefix-free, so these are
disjoint events and the sum is a probability. A word continued by more
letters ("NO" then "T") counts as the word, as with a single verdict token.

The sequences share prefixes ("Y" starts "YES" and "Yes" if both are split
that way), so they form a prefix tree. The hf backend appends the tree's inner
nodes after each prompt and scores them in the same forward pass (tree
attention: each node sees the prompt and its own ancestors), so one pass gives
the next-token distribution after the prompt and after every inner node.

Nothing here imports torch: the inputs are log-probability rows indexable by
token id (a tensor row or a list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlvr_bench.judges.verdict_parsing import VerdictWords, normalize_token


@dataclass(frozen=True)
class VerdictSequences:
    """The token sequences spelling each side's words, and their prefix tree.

    ``nodes`` are the inner nodes of the tree (every proper, non-empty prefix of
    a sequence), parents before children; node ``j`` is the token ``nodes[j][-1]``
    appended after the prompt at depth ``len(nodes[j])``.
    """

    #: (token ids, True for a positive word / False for a negative one)
    sequences: tuple[tuple[tuple[int, ...], bool], ...]
    nodes: tuple[tuple[int, ...], ...]

    @property
    def multi_token(self) -> bool:
        """True when some sequence has more than one token (the tree has inner nodes)."""
        return bool(self.nodes)

    def parents(self) -> list[int]:
        """Index of each node's parent node; -1 for a node right after the prompt."""
        index = {node: j for j, node in enumerate(self.nodes)}
        return [index[node[:-1]] if len(node) > 1 else -1 for node in self.nodes]

    def side_ids(self, positive: bool) -> list[int]:
        """First tokens of the single-token sequences of one side."""
        return sorted(seq[0] for seq, side in self.sequences if side is positive and len(seq) == 1)

    def side_logprobs(self, first: Any, node_rows: Any) -> tuple[list[float], list[float]]:
        """Log-probabilities of every positive / negative sequence.

        ``first`` is the log-probability row after the prompt, ``node_rows[j]`` the
        row after node ``j`` (indexable by token id, natural log).
        """
        index = {node: j for j, node in enumerate(self.nodes)}
        positive: list[float] = []
        negative: list[float] = []
        for seq, side in self.sequences:
            total = float(first[seq[0]])
            for depth in range(1, len(seq)):
                total += float(node_rows[index[seq[:depth]]][seq[depth]])
            (positive if side else negative).append(total)
        return positive, negative

    def probabilities(self, first: Any, node_rows: Any) -> tuple[float, float]:
        """(P(positive word), P(negative word)): summed sequence probabilities."""
        import math

        positive, negative = self.side_logprobs(first, node_rows)
        return sum(math.exp(v) for v in positive), sum(math.exp(v) for v in negative)

    def greedy_text(self, first: Any, node_rows: Any, decode: Callable[[list[int]], str]) -> str:
        """What greedy generation writes while it stays inside the tree (e.g. "Y" then "ES": "YES").

        The argmax token after the prompt, then, while the path so far is an inner
        node, the argmax after it: exactly greedy decoding for those steps.
        """
        index = {node: j for j, node in enumerate(self.nodes)}
        path: tuple[int, ...] = (_argmax(first),)
        while path in index:
            path = (*path, _argmax(node_rows[index[path]]))
        return decode(list(path))


def _argmax(row: Any) -> int:
    if hasattr(row, "argmax"):
        return int(row.argmax())
    return max(range(len(row)), key=lambda i: row[i])


def build_verdict_sequences(tokenizer: Any, words: VerdictWords) -> VerdictSequences:
    """The verdict sequences of ``tokenizer``: its encoding of each spelling, and every one-token spelling.

    An encoding is kept only if it decodes back to the word (some tokenizers add
    a prefix space or normalise text). Sequences that extend another sequence
    are dropped, so the set is prefix-free.
    """
    found: dict[tuple[int, ...], bool] = {}
    for spelling in words.spellings():
        side = words.classify(spelling)
        ids = tuple(tokenizer.encode(spelling, add_special_tokens=False))
        if ids and side is not None and words.classify(str(tokenizer.decode(list(ids)))) is side:
            found.setdefault(ids, side)
    for token_id, side in _single_token_spellings(tokenizer, words).items():
        found.setdefault((token_id,), side)
    kept = {seq: side for seq, side in found.items()
            if not any(len(other) < len(seq) and seq[:len(other)] == other for other in found)}
    ordered = tuple(sorted(kept.items(), key=lambda item: (len(item[0]), item[0])))
    nodes: dict[tuple[int, ...], None] = {}
    for seq, _side in ordered:
        for depth in range(1, len(seq)):
            nodes.setdefault(seq[:depth], None)
    return VerdictSequences(sequences=ordered, nodes=tuple(sorted(nodes, key=lambda n: (len(n), n))))


def _single_token_spellings(tokenizer: Any, words: VerdictWords) -> Mapping[int, bool]:
    """Every vocabulary token that is a verdict word (up to case and surrounding whitespace)."""
    wanted = {w.casefold() for w in (*words.positive, *words.negative)}
    sides: dict[int, bool] = {}
    for token, token_id in tokenizer.get_vocab().items():
        if normalize_token(token) not in wanted:
            continue  # cheap filter on the raw token; the decoded text decides below
        side = words.classify(str(tokenizer.decode([token_id])))
        if side is not None:
            sides[int(token_id)] = side
    return sides
