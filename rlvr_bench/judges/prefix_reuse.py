"""The shared prompt prefix of a model judge, run through the model once per run.

Every verifier prompt starts with the same tokens: the chat template's system
turn and the instructions, up to the first placeholder (for the bundled
``verifier`` prompt and SmolLM2, 147 of about 215 tokens). Causal attention
makes the keys and values of those tokens independent of what follows, so they
are computed once, kept, and every batch runs only each prompt's remainder
(its *suffix*) against them: the same computation as running whole prompts,
with about a third of the tokens. Distillation does the same for training
(:func:`rlvr_bench.training.distill_students.shared_prefix_trainer`).

The prefix is found from the template, not from the data: two different
triples are rendered and tokenized, and their common token ids are the
candidate. A real prompt can tokenize the boundary differently (a question
that starts with a newline may merge with the one before it), so each prompt
shares only the tokens it really has in common with the candidate, at least
one token before its own end: a row that shares ``s`` tokens sees cache
positions ``0 .. s - 1`` only (the cache of a prefix's first ``s`` tokens is the
first ``s`` entries of its cache) and runs the rest itself, at the positions
it would have had in a whole-prompt pass.

Batch layout: the suffixes are *packed*, not padded: one row holds each
prompt's suffix followed by the ``N`` inner nodes of its verdict prefix tree (as in
:mod:`rlvr_bench.judges.hf_backend`), so no compute goes to padding. The additive
attention mask, ``(1, 1, T, P + T)`` for ``T`` packed tokens and a cache of ``P``,
lets a suffix token see the cache positions its prompt shares and its own
suffix up to itself, and a node its prompt's shared positions, its whole
suffix, its ancestors and itself; nothing crosses from one prompt to another.
Position ids are those of a whole-prompt pass. A pack holds at most
:data:`MAX_PACKED_TOKENS` tokens (the mask is quadratic in ``T``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rlvr_bench.judges.base import Triple

if TYPE_CHECKING:
    import torch

#: below this many shared tokens a prefix is not worth a cache (as distillation's MIN_SHARED_PREFIX)
MIN_SHARED_PREFIX = 16

#: most tokens in one packed row: the mask and the attention are quadratic in it
MAX_PACKED_TOKENS = 4096
#: two triples that differ in every field from the first character on: their prompts share the template's
#: text before its first placeholder, and nothing after it
PROBE_TRIPLES = (Triple("Zq 1", "Zr 2", "Zs 3", domain="zd", answer_type="text"),
                 Triple("(9) w", "(8) v", "(7) u", domain="(6)", answer_type="number"))


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def template_prefix(encode: Callable[[Triple], list[int]]) -> tuple[int, ...]:
    """The token ids every prompt of a template starts with (as far as two probe renders show), or ()
    when they share fewer than :data:`MIN_SHARED_PREFIX` tokens."""
    first, second = (encode(triple) for triple in PROBE_TRIPLES)
    length = common_prefix_length(first, second)
    return tuple(first[:length]) if length >= MIN_SHARED_PREFIX else ()


def cache_argument(model: Any) -> str:
    """The name under which ``model.forward`` takes a key/value cache: ``cache`` (transformers >= 5.25)
    or ``past_key_values`` (earlier, deprecated after)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def supports_prefix_cache(model: Any) -> bool:
    """True for decoder models whose every layer attends to the whole past (a DynamicCache of full layers):
    sliding-window and hybrid models keep the whole-prompt pass."""
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    layer_types = getattr(config, "layer_types", None) or []
    if any(kind != "full_attention" for kind in layer_types):
        return False
    return not (getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True))


@dataclass
class PrefixCache:
    """Keys and values of one prefix, per layer, shape (1, kv heads, P, head dim), in the model's dtype."""

    ids: tuple[int, ...]
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    dtype: Any

    @classmethod
    def compute(cls, model: Any, ids: Sequence[int], device: str) -> PrefixCache:
        import torch

        with torch.inference_mode():
            output = model(input_ids=torch.tensor([list(ids)], dtype=torch.long, device=device), use_cache=True,
                           logits_to_keep=1)
        past = getattr(output, "cache", None) or output.past_key_values
        layers = [(layer.keys, layer.values) for layer in past.layers]
        return cls(ids=tuple(ids), layers=layers, dtype=next(model.parameters()).dtype)

    def fresh(self) -> Any:
        """A new DynamicCache holding this prefix (the model's update concatenates into new tensors, so the
        kept prefix is never modified)."""
        from transformers import DynamicCache

        return DynamicCache(list(self.layers))


def shared_lengths(prompts: Sequence[Sequence[int]], prefix: Sequence[int]) -> list[int]:
    """Per prompt, the tokens it takes from the prefix cache: its common prefix with ``prefix``, leaving at
    least its last token to run (that token's output is the verdict distribution)."""
    return [min(common_prefix_length(prompt, prefix), len(prompt) - 1) for prompt in prompts]


def packed_batch(prompts: Sequence[Sequence[int]], shared: Sequence[int], nodes: tuple[tuple[int, ...], ...],
                 prefix_length: int, dtype: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids, position ids, additive 4-D mask, indices of the output rows) of one packed row run
    against a prefix cache (see the module doc); the output rows of prompt ``r`` are ``indices[r * (1 + N):
    (r + 1) * (1 + N)]``: after its last token, then after each node."""
    import torch

    n_nodes = len(nodes)
    suffixes = [list(prompt[start:]) for prompt, start in zip(prompts, shared, strict=True)]
    total = sum(len(suffix) + n_nodes for suffix in suffixes)
    input_ids = torch.empty((1, total), dtype=torch.long)
    positions = torch.empty((1, total), dtype=torch.long)
    allowed = torch.zeros((total, prefix_length + total), dtype=torch.bool)
    outputs: list[int] = []
    depths = torch.tensor([len(node) for node in nodes], dtype=torch.long)
    node_ids = torch.tensor([node[-1] for node in nodes], dtype=torch.long)
    index = {node: j for j, node in enumerate(nodes)}
    offset = 0
    for suffix, start in zip(suffixes, shared, strict=True):
        length = len(suffix)
        tokens = slice(offset, offset + length)
        input_ids[0, tokens] = torch.tensor(suffix, dtype=torch.long)
        positions[0, tokens] = torch.arange(start, start + length)
        span = slice(offset, offset + length + n_nodes)
        allowed[span, :start] = True  # the shared part of the prefix
        allowed[tokens, prefix_length + offset:prefix_length + offset + length] = torch.ones(
            (length, length), dtype=torch.bool).tril()
        outputs.append(offset + length - 1)
        if n_nodes:
            first_node = offset + length
            input_ids[0, first_node:first_node + n_nodes] = node_ids
            # a node at depth d sits where generation would put its token: d - 1 places after the prompt
            positions[0, first_node:first_node + n_nodes] = start + length + depths - 1
            allowed[first_node:first_node + n_nodes, prefix_length + offset:prefix_length + first_node] = True
            for j, node in enumerate(nodes):
                for depth in range(1, len(node) + 1):
                    allowed[first_node + j, prefix_length + first_node + index[node[:depth]]] = True
            outputs.extend(range(first_node, first_node + n_nodes))
        offset += length + n_nodes
    additive = torch.zeros((1, 1, total, prefix_length + total), dtype=dtype)
    mask = additive.masked_fill(~allowed[None, None], torch.finfo(dtype).min)
    return input_ids, positions, mask, torch.tensor(outputs, dtype=torch.long)
