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
  ("auto" = bfloat16 on cuda, float32 on cpu; or float32 / bfloat16 / float16);
- ``batch_size`` (prompts per forward pass, default 16), ``max_batch_tokens``
  (padded tokens per forward pass, default 16384), ``max_prompt_tokens``
  (longer prompts are unscored; default the model's context length);
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.checkpoints import load_causal_lm, pick_device, pick_dtype, resolve_checkpoint
from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.model_judge import ModelJudge, checkpoint_reason
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
                            batch_size: int = 16, max_batch_tokens: int = 16384) -> list[torch.Tensor]:
        """Per prompt, a (1 + len(nodes), vocab) float32 cpu tensor of next-token log-probabilities.

        Row 0 is after the prompt; row ``j + 1`` after the prompt followed by the token
        path ``nodes[j]`` (a prefix tree listed parents first, as
        :class:`VerdictSequences` gives it). Prompts are sorted by length and grouped so
        a batch holds at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens.
        """
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Any] = [None] * len(prompts)
        with self.thread_scope():
            self._score_sorted(prompts, tuple(nodes), order, results, batch_size, max_batch_tokens)
        return results

    def _score_sorted(self, prompts: Sequence[list[int]], nodes: tuple[tuple[int, ...], ...], order: list[int],
                      results: list[Any], batch_size: int, max_batch_tokens: int) -> None:
        batch: list[int] = []
        with self._torch.inference_mode():
            for index in order:
                width = len(prompts[index]) + len(nodes)  # the longest so far: the list is sorted
                if batch and (len(batch) >= batch_size or width * (len(batch) + 1) > max_batch_tokens):
                    self._score_batch(prompts, nodes, batch, results)
                    batch = []
                batch.append(index)
            if batch:
                self._score_batch(prompts, nodes, batch, results)

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
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            return f"judge {spec.name!r} needs torch and transformers: pip install torch transformers"
        return checkpoint_reason(spec, spec.params.get("model"))

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        params = spec.params
        try:
            self.lm = HFVerifierModel(str(params["model"]), device=params.get("device", "auto"),
                                      dtype=params.get("dtype", "auto"), revision=params.get("revision"),
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

    def model_revision(self) -> str:
        """For a local folder, the names, sizes and modification times of its files (a rebuilt model is new)."""
        path = Path(self.lm.path)
        if not path.is_dir():
            return str(self.spec.params.get("revision", ""))
        stamps = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.iterdir()) if p.is_file()]
        return ";".join(stamps)

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        began = time.perf_counter()
        encoded: list[list[int] | None] = []
        verdicts: list[Verdict | None] = [None] * len(triples)
        for index, triple in enumerate(triples):
            ids = self.lm.encode(self.render(triple))
            if len(ids) > self.max_prompt_tokens:
                verdicts[index] = Verdict(passed=None, error=f"prompt too long: {len(ids)} tokens, more than "
                                          f"max_prompt_tokens={self.max_prompt_tokens}", prompt_tokens=len(ids))
                encoded.append(None)
            else:
                encoded.append(ids)
        todo = [i for i, ids in enumerate(encoded) if ids is not None]
        with self.lm.thread_scope():  # also for the small tensor ops below: idle threads cost more than the work
            rows = self.lm.next_token_logprobs([encoded[i] or [] for i in todo], self.sequences.nodes,
                                               self.batch_size, self.max_batch_tokens)
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
