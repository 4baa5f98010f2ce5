"""The ``hf`` backend: a local transformers model scored in one forward pass.

A verifier answers with a verdict word, so there is nothing to generate: the
prompt goes through the model once, and the distribution of the *next* token
gives P(YES) and P(NO). When the tokenizer writes a verdict word as several
tokens (SmolLM2: "YES" = "Y" + "ES"), the inner nodes of the verdict prefix tree
(:mod:`rlvr_bench.judges.verdict_sequences`) are appended after the prompt in
the same pass, with a tree attention mask (each node sees the prompt and its
own ancestors) and the positions they would have in generation, so one pass
gives the probability of every multi-token spelling, exactly as generating it
would. Prompts are sorted by length and cut into batches (length bucketing, so
little compute is spent on padding), left-padded, with position ids computed
from the attention mask so a padded row scores exactly as it would alone.

Preset parameters (besides those of :mod:`rlvr_bench.judges.model_judge`):

- ``model``: a checkpoint as :func:`rlvr_bench.checkpoints.resolve_checkpoint` reads it: a
  project name (``smollm2``, ``rlvr-bench:tiny-judge``), a local folder, a ``.gguf`` file or a hub id;
- ``revision`` (hub), ``device`` ("auto" = cuda when present, else cpu), ``dtype``
  ("auto" = bfloat16 on cuda; on cpu the faster of float32 and bfloat16, measured at
  load, whose verdicts agree: :mod:`rlvr_bench.judges.dtype_choice`; or float32 /
  bfloat16 / float16);
- ``batch_size`` (prompts per forward pass, default 16), ``max_batch_tokens``
  (padded tokens per forward pass, default 16384), ``max_prompt_tokens``
  (longer prompts are unscored, decided from tokenization before the first
  forward pass; default the model's context length);
- ``prefix_reuse`` (default true): the tokens every prompt starts with (system turn
  and instructions) are run once per run and their keys and values reused by every
  batch (:mod:`rlvr_bench.judges.prefix_reuse`); false runs whole prompts;
- ``threads``: CPU threads for the forward pass (default: torch's setting). Small
  models run fastest on one thread: on a busy machine, idle-spinning worker
  threads cost several times the work itself;
- ``trust_remote_code`` (default false);
- ``min_verdict_mass`` (default 1e-6) and ``low_verdict_mass`` (default 0.5): below the
  first a verdict is unscored, below the second it is scored and flagged "low verdict
  mass" (see :mod:`rlvr_bench.judges.verdict_parsing`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.checkpoints import load_causal_lm, pick_device, pick_dtype, resolve_checkpoint
from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.dtype_choice import PROBE_TRIPLES, DtypeChoice, choose_dtype
from rlvr_bench.judges.model_judge import ModelJudge, checkpoint_reason
from rlvr_bench.judges.prefix_reuse import (
    MAX_PACKED_TOKENS,
    PrefixCache,
    cache_argument,
    packed_batch,
    shared_lengths,
    supports_prefix_cache,
    template_prefix,
)
from rlvr_bench.judges.prompting import RenderedPrompt
from rlvr_bench.judges.verdict_parsing import (
    LOW_VERDICT_MASS,
    MIN_VERDICT_MASS,
    VerdictWords,
    verdict_from_probabilities,
)
from rlvr_bench.judges.verdict_sequences import VerdictSequences, build_verdict_sequences
from rlvr_bench.records import Verdict

if TYPE_CHECKING:
    import torch


#: token lists :meth:`HFJudge.preflight` keeps for :meth:`HFJudge.judge_batch` (about 8 kB each as Python ints)
PREFLIGHT_KEPT = 4096


class HFVerifierModel:
    """A causal LM and its tokenizer, returning first-token log-probabilities for many prompts.

    Shared by the hf judge and ``rlvr-bench serve-judge``.
    """

    def __init__(self, model: str, device: str | None = "auto", dtype: str | None = "auto",
                 revision: str | None = None, trust_remote_code: bool = False, threads: int | None = None) -> None:
        import torch

        self.model_ref = model
        self.threads = threads
        self.path = resolve_checkpoint(model)
        self.device = pick_device(device)
        self.model, self.tokenizer = load_causal_lm(self.path, pick_dtype(dtype, self.device), self.device,
                                                    revision=revision, trust_remote_code=trust_remote_code)
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        self.max_positions: int | None = getattr(self.model.config, "max_position_embeddings", None)
        self._torch = torch
        self._prefix: PrefixCache | None = None

    def encode(self, prompt: RenderedPrompt) -> list[int]:
        """Token ids of a rendered prompt: chat template + generation prompt + assistant prefix."""
        return prompt.token_ids(self.tokenizer, f"model {self.model_ref}")

    def encode_messages(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids for OpenAI-style messages (serve-judge); a trailing assistant message is continued."""
        prefix = ""
        if messages and messages[-1].get("role") == "assistant":
            prefix = messages[-1].get("content", "")
            messages = messages[:-1]
        rendered = RenderedPrompt(messages=tuple((m["role"], m["content"]) for m in messages), raw=None,
                                  assistant_prefix=prefix)
        return self.encode(rendered)

    @contextlib.contextmanager
    def thread_scope(self) -> Iterator[None]:
        """Run torch ops with ``threads`` CPU threads (when set), restoring the process setting after."""
        torch = self._torch
        default_threads = torch.get_num_threads()
        if self.threads and self.threads != default_threads:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != default_threads:
                torch.set_num_threads(default_threads)

    def first_token_logprobs(self, prompts: Sequence[list[int]], batch_size: int = 16,
                             max_batch_tokens: int = 16384) -> list[torch.Tensor]:
        """Log-softmax over the vocabulary of the token after each prompt (float32, on cpu), in input order."""
        return [rows[0] for rows in self.next_token_logprobs(prompts, (), batch_size, max_batch_tokens)]

    def next_token_logprobs(self, prompts: Sequence[list[int]], nodes: Sequence[tuple[int, ...]] = (),
                            batch_size: int = 16, max_batch_tokens: int = 16384,
                            prefix: Sequence[int] = ()) -> list[torch.Tensor]:
        """Per prompt, a (1 + len(nodes), vocab) float32 cpu tensor of next-token log-probabilities.

        Row 0 is after the prompt; row ``j + 1`` after the prompt followed by the token
        path ``nodes[j]`` (a prefix tree listed parents first, as
        :class:`VerdictSequences` gives it). Prompts are sorted by length and grouped so
        a batch holds at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens.
        With a ``prefix`` (token ids most prompts start with), its keys and values are computed once and
        kept, and each prompt runs only what follows the part it shares (:mod:`rlvr_bench.judges.prefix_reuse`).
        """
        cache = self.prefix_cache(prefix) if prefix else None
        shared = shared_lengths(prompts, cache.ids) if cache is not None else [0] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) - shared[i])
        results: list[Any] = [None] * len(prompts)
        with self.thread_scope():
            self._score_sorted(prompts, tuple(nodes), order, results, batch_size, max_batch_tokens, cache, shared)
        return results

    def prefix_cache(self, prefix: Sequence[int]) -> PrefixCache | None:
        """The kept keys and values of ``prefix`` (computed on first use, again only when the prefix or the
        model's dtype changes); None when this model cannot reuse a prefix."""
        if not supports_prefix_cache(self.model):
            return None
        dtype = next(self.model.parameters()).dtype
        if self._prefix is None or self._prefix.ids != tuple(prefix) or self._prefix.dtype != dtype:
            with self.thread_scope():
                self._prefix = PrefixCache.compute(self.model, prefix, self.device)
        return self._prefix

    def _score_sorted(self, prompts: Sequence[list[int]], nodes: tuple[tuple[int, ...], ...], order: list[int],
                      results: list[Any], batch_size: int, max_batch_tokens: int, cache: PrefixCache | None,
                      shared: list[int]) -> None:
        batch: list[int] = []
        packed = 0
        with self._torch.inference_mode():
            for index in order:
                width = len(prompts[index]) - shared[index] + len(nodes)  # the longest so far: the list is sorted
                if cache is None:
                    full = batch and (len(batch) >= batch_size or width * (len(batch) + 1) > max_batch_tokens)
                else:  # packed rows: no padding, the tokens themselves are the bound
                    full = batch and (len(batch) >= batch_size or packed + width > min(max_batch_tokens,
                                                                                       MAX_PACKED_TOKENS))
                if full:
                    self._score_any(prompts, nodes, batch, results, cache, shared)
                    batch, packed = [], 0
                batch.append(index)
                packed += width
            if batch:
                self._score_any(prompts, nodes, batch, results, cache, shared)

    def _score_any(self, prompts: Sequence[list[int]], nodes: tuple[tuple[int, ...], ...], batch: list[int],
                   results: list[Any], cache: PrefixCache | None, shared: list[int]) -> None:
        if cache is None:
            self._score_batch(prompts, nodes, batch, results)
        else:
            self._score_packed(prompts, nodes, batch, results, cache, shared)

    def _score_packed(self, prompts: Sequence[list[int]], nodes: tuple[tuple[int, ...], ...],
                      batch: list[int], results: list[Any], cache: PrefixCache, shared: list[int]) -> None:
        """One batch's suffixes packed into one row and run against the kept prefix
        (see :mod:`rlvr_bench.judges.prefix_reuse`)."""
        input_ids, positions, mask, outputs = packed_batch([prompts[i] for i in batch], [shared[i] for i in batch],
                                                           nodes, len(cache.ids), cache.dtype)
        logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                            position_ids=positions.to(self.device), use_cache=True,
                            logits_to_keep=outputs.to(self.device), **{cache_argument(self.model): cache.fresh()}
                            ).logits
        logprobs = self._torch.log_softmax(logits[0].float(), dim=-1).cpu()
        rows = 1 + len(nodes)
        for row, index in enumerate(batch):
            results[index] = logprobs[row * rows:(row + 1) * rows]

    def _score_batch(self, prompts: Sequence[list[int]], nodes: tuple[tuple[int, ...], ...], batch: list[int],
                     results: list[Any]) -> None:
        torch = self._torch
        width = max(len(prompts[i]) for i in batch)
        input_ids = torch.full((len(batch), width + len(nodes)), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            ids = prompts[index]
            input_ids[row, width - len(ids):width] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
        # left padding: positions count real tokens only, as they would without padding
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        attention = mask
        if nodes:
            input_ids[:, width:] = torch.tensor([node[-1] for node in nodes], dtype=torch.long)
            depths = torch.tensor([len(node) for node in nodes], dtype=torch.long)
            # a node at depth d sits where generation would put its token: d - 1 places after the prompt
            positions = torch.cat([positions, mask.sum(-1, keepdim=True) + depths[None, :] - 1], dim=1)
            attention = self._tree_mask(mask, nodes)
        logits = self.model(input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device),
                            position_ids=positions.to(self.device), logits_to_keep=len(nodes) + 1).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, index in enumerate(batch):
            results[index] = logprobs[row]

    def _tree_mask(self, mask: torch.Tensor, nodes: tuple[tuple[int, ...], ...]) -> torch.Tensor:
        """Additive (batch, 1, width + nodes, width + nodes) mask: causal over the prompt, each node sees
        the prompt's real tokens, its ancestors and itself."""
        torch = self._torch
        batch, width = mask.shape
        total = width + len(nodes)
        real = mask.bool()
        allowed = torch.zeros((batch, total, total), dtype=torch.bool)
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        allowed[:, :width, :width] = causal[None] & real[:, None, :]
        allowed[:, :width, :width] |= torch.eye(width, dtype=torch.bool)[None]  # a pad row attends to itself
        allowed[:, width:, :width] = real[:, None, :]
        index = {node: j for j, node in enumerate(nodes)}
        for j, node in enumerate(nodes):
            for depth in range(1, len(node) + 1):
                allowed[:, width + j, width + index[node[:depth]]] = True
        dtype = next(self.model.parameters()).dtype
        additive = torch.zeros((batch, 1, total, total), dtype=dtype)
        return additive.masked_fill(~allowed[:, None], torch.finfo(dtype).min)

    def verdict_sequences(self, words: VerdictWords) -> VerdictSequences:
        """The token sequences spelling each verdict word in this model's tokenizer."""
        return build_verdict_sequences(self.tokenizer, words)

    def decode(self, token_ids: list[int]) -> str:
        return str(self.tokenizer.decode(token_ids))

    def decode_token(self, token_id: int) -> str:
        return str(self.tokenizer.decode([token_id]))


class HFJudge(ModelJudge):
    """Generative verifier run locally with transformers; one forward pass per batch, no generation."""

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        import importlib.util

        # find_spec, not import: importing torch and transformers takes seconds, and a check must be quick
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
            return f"judge {spec.name!r} needs torch and transformers: pip install torch transformers"
        return checkpoint_reason(spec, spec.params.get("model"))

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        params = spec.params
        requested = str(params.get("dtype") or "auto")
        measure = requested == "auto" and pick_device(params.get("device", "auto")) == "cpu"
        try:
            self.lm = HFVerifierModel(str(params["model"]), device=params.get("device", "auto"),
                                      dtype="float32" if measure else requested, revision=params.get("revision"),
                                      trust_remote_code=bool(params.get("trust_remote_code", False)),
                                      threads=int(params["threads"]) if params.get("threads") else None)
        except ConfigError as exc:
            raise ConfigError(f"judge {spec.name!r}: {exc}") from None
        self.batch_size = int(params.get("batch_size", 16))
        self.max_batch_tokens = int(params.get("max_batch_tokens", 16384))
        self.max_prompt_tokens = int(params.get("max_prompt_tokens") or self.lm.max_positions or 1 << 30)
        self.min_mass = float(params.get("min_verdict_mass", MIN_VERDICT_MASS))
        self.low_mass = float(params.get("low_verdict_mass", LOW_VERDICT_MASS))
        self.sequences = self.lm.verdict_sequences(self.words)
        for side in (True, False):
            if not any(seq_side is side for _seq, seq_side in self.sequences.sequences):
                words = self.words.positive if side else self.words.negative
                raise ConfigError(f"judge {spec.name!r}: the tokenizer of model {params['model']} cannot spell "
                                  f"the verdict word(s) {', '.join(words)}; set params.verdict_words")
        #: single-token spellings of each side (every spelling, longer ones included, is in ``sequences``)
        self.positive_ids = self.sequences.side_ids(True)
        self.negative_ids = self.sequences.side_ids(False)
        #: the token ids every prompt starts with, run once per run (empty: whole prompts every batch)
        self.prefix_ids: tuple[int, ...] = (template_prefix(lambda t: self.lm.encode(self.render(t)))
                                            if params.get("prefix_reuse", True) else ())
        #: prompts tokenized by :meth:`preflight`, used (and dropped) by :meth:`judge_batch`
        self._encoded: dict[RenderedPrompt, list[int]] = {}
        #: what ``dtype: auto`` measured on this machine (None when the preset names a dtype, or on cuda)
        self.dtype_choice: DtypeChoice | None = None
        if measure:
            self.dtype_choice = choose_dtype(self.lm, self.lm.encode(self.render(PROBE_TRIPLES[0])),
                                             lambda: self.probe_p_pass(PROBE_TRIPLES))
            # recorded in the spec, so in every run's config.json (and left out of the cache identity:
            # model_revision names the chosen dtype instead)
            self.spec = replace(self.spec, params={**params, "dtype_measured": self.dtype_choice.to_json()})

    def probe_p_pass(self, triples: Sequence[Triple]) -> list[float | None]:
        """p_pass of ``triples`` with the current model, outside the usage meter (for the dtype measurement)."""
        prompts = [self.lm.encode(self.render(t)) for t in triples]
        rows = self.lm.next_token_logprobs(prompts, self.sequences.nodes, self.batch_size, self.max_batch_tokens,
                                           prefix=self.prefix_ids)
        scores: list[float | None] = []
        for logprobs in rows:
            p_positive, p_negative = self.sequences.probabilities(logprobs[0], logprobs[1:])
            total = p_positive + p_negative
            scores.append(p_positive / total if total > 0 else None)
        return scores

    def model_revision(self) -> str:
        """For a local folder, the names, sizes and modification times of its files (a rebuilt model is new)."""
        path = Path(self.lm.path)
        # dtype auto: the precision it chose on this machine changes verdicts in the third decimal
        chosen = f"|dtype={self.dtype_choice.chosen}" if self.dtype_choice is not None else ""
        if not path.is_dir():
            return str(self.spec.params.get("revision", "")) + chosen
        stamps = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.iterdir()) if p.is_file()]
        return ";".join(stamps) + chosen

    def _too_long(self, ids: list[int]) -> Verdict | None:
        if len(ids) <= self.max_prompt_tokens:
            return None
        reads = self.lm.max_positions
        hint = (f" (the model reads up to {reads}: raise params.max_prompt_tokens in a copy of the preset)"
                if reads and reads > self.max_prompt_tokens else "")
        return Verdict(passed=None, error=f"prompt too long: {len(ids)} tokens, more than "
                       f"max_prompt_tokens={self.max_prompt_tokens}{hint}", prompt_tokens=len(ids))

    def preflight(self, triples: Sequence[Triple]) -> dict[int, Verdict]:
        """Unscored verdicts, by position, for the triples whose prompt is longer than ``max_prompt_tokens``.

        Tokenizing is all it takes, so :func:`rlvr_bench.judging.judge_triples` calls this before the first
        forward pass: the command's ``--max-unscored`` budget stops a run that would fail on too many
        triples before any model work, and the rest are judged without these. The first
        :data:`PREFLIGHT_KEPT` token lists are kept for :meth:`judge_batch` (a million prompts' would not fit
        in memory; tokenizing again costs far less than the forward pass).
        """
        self._encoded.clear()
        refused: dict[int, Verdict] = {}
        for index, triple in enumerate(triples):
            rendered = self.render(triple)
            ids = self._encoded.get(rendered) or self.lm.encode(rendered)
            too_long = self._too_long(ids)
            if too_long is not None:
                refused[index] = too_long
            elif len(self._encoded) < PREFLIGHT_KEPT:
                self._encoded[rendered] = ids
        return refused

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        began = time.perf_counter()
        encoded: list[list[int] | None] = []
        verdicts: list[Verdict | None] = [None] * len(triples)
        for index, triple in enumerate(triples):
            rendered = self.render(triple)
            ids = self._encoded.pop(rendered, None) or self.lm.encode(rendered)
            verdicts[index] = self._too_long(ids)
            encoded.append(ids if verdicts[index] is None else None)
        todo = [i for i, ids in enumerate(encoded) if ids is not None]
        with self.lm.thread_scope():  # also for the small tensor ops below: idle threads cost more than the work
            rows = self.lm.next_token_logprobs([encoded[i] or [] for i in todo], self.sequences.nodes,
                                               self.batch_size, self.max_batch_tokens, prefix=self.prefix_ids)
            for index, logprobs in zip(todo, rows, strict=True):
                first, node_rows = logprobs[0], logprobs[1:]
                p_positive, p_negative = self.sequences.probabilities(first, node_rows)
                output = self.sequences.greedy_text(first, node_rows, self.lm.decode)
                verdicts[index] = verdict_from_probabilities(output, p_positive, p_negative, self.words,
                                                             prompt_tokens=len(encoded[index] or []),
                                                             completion_tokens=1, min_mass=self.min_mass,
                                                             low_mass=self.low_mass)
        latency = (time.perf_counter() - began) / max(len(triples), 1)
        self.meter.add(verdicts=len(todo), prompt_tokens=sum(len(encoded[i] or []) for i in todo),
                       completion_tokens=len(todo), calls=1 if todo else 0)
        return [_with_latency(v, latency) for v in verdicts if v is not None]


def _with_latency(verdict: Verdict, latency_s: float) -> Verdict:
    from dataclasses import replace

    return replace(verdict, latency_s=latency_s)
