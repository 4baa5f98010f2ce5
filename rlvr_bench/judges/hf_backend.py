"""The ``hf`` backend: a local transformers model scored in one forward pass.

A verifier answers with one token, so there is nothing to generate: the
prompt goes through the model once, and the distribution of the *next* token
gives P(YES) and P(NO). Prompts are sorted by length and cut into batches
(length bucketing, so little compute is spent on padding), left-padded, with
position ids computed from the attention mask so a padded row scores exactly as
it would alone.

Preset parameters (besides those of :mod:`rlvr_bench.judges.model_judge`):

- ``model``: local checkpoint folder, hub id, or ``rlvr-bench:tiny-judge``;
- ``revision`` (hub), ``device`` ("auto" = cuda when present, else cpu), ``dtype``
  ("auto" = bfloat16 on cuda, float32 on cpu; or float32 / bfloat16 / float16);
- ``batch_size`` (prompts per forward pass, default 16), ``max_batch_tokens``
  (padded tokens per forward pass, default 16384), ``max_prompt_tokens``
  (longer prompts are unscored; default the model's context length);
- ``threads``: CPU threads for the forward pass (default: torch's setting). Small
  models run fastest on one thread: on a busy machine, idle-spinning worker
  threads cost several times the work itself;
- ``trust_remote_code`` (default false).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.model_judge import ModelJudge, checkpoint_reason
from rlvr_bench.judges.prompting import RenderedPrompt
from rlvr_bench.judges.verdict_parsing import VerdictWords, normalize_token, verdict_from_probabilities
from rlvr_bench.records import Verdict

if TYPE_CHECKING:
    import torch


def pick_device(requested: str | None) -> str:
    import torch

    if requested and requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> torch.dtype:
    import torch

    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if requested and requested != "auto":
        if requested not in names:
            raise ConfigError(f"unknown dtype {requested!r}; one of auto, {', '.join(names)}")
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class HFVerifierModel:
    """A causal LM and its tokenizer, returning first-token log-probabilities for many prompts.

    Shared by the hf judge and ``rlvr-bench serve-judge``.
    """

    def __init__(self, model: str, device: str | None = "auto", dtype: str | None = "auto",
                 revision: str | None = None, trust_remote_code: bool = False, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from rlvr_bench.judges.tiny_judge import resolve_model_ref

        self.model_ref = model
        self.threads = threads
        self.path = resolve_model_ref(model)
        self.device = pick_device(device)
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a judge loads quietly; the run has its own progress display
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, revision=revision,
                                                           trust_remote_code=trust_remote_code)
            loaded: Any = AutoModelForCausalLM.from_pretrained(
                self.path, revision=revision, dtype=pick_dtype(dtype, self.device), trust_remote_code=trust_remote_code
            )
            self.model = loaded.to(self.device)
        except OSError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot load model {model}: {first_line}") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.model.eval()
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
        """Log-softmax over the vocabulary of the token after each prompt (float32, on cpu), in input order.

        Prompts are sorted by length and grouped so a batch holds at most
        ``batch_size`` rows and ``max_batch_tokens`` padded tokens.
        """
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Any] = [None] * len(prompts)
        with self.thread_scope():
            self._score_sorted(prompts, order, results, batch_size, max_batch_tokens)
        return results

    def _score_sorted(self, prompts: Sequence[list[int]], order: list[int], results: list[Any], batch_size: int,
                      max_batch_tokens: int) -> None:
        batch: list[int] = []
        with self._torch.inference_mode():
            for index in order:
                width = len(prompts[index])  # the longest so far: the list is sorted
                if batch and (len(batch) >= batch_size or width * (len(batch) + 1) > max_batch_tokens):
                    self._score_batch(prompts, batch, results)
                    batch = []
                batch.append(index)
            if batch:
                self._score_batch(prompts, batch, results)

    def _score_batch(self, prompts: Sequence[list[int]], batch: list[int], results: list[Any]) -> None:
        torch = self._torch
        width = max(len(prompts[i]) for i in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            ids = prompts[index]
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
        # left padding: positions count real tokens only, as they would without padding
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                            position_ids=positions.to(self.device), logits_to_keep=1).logits[:, -1, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, index in enumerate(batch):
            results[index] = logprobs[row]

    def verdict_token_ids(self, words: VerdictWords) -> tuple[list[int], list[int]]:
        """Ids of every vocabulary token spelling a positive / negative word (case, leading space)."""
        positive: list[int] = []
        negative: list[int] = []
        wanted = {w.casefold() for w in (*words.positive, *words.negative)}
        for token, token_id in self.tokenizer.get_vocab().items():
            if normalize_token(token) not in wanted:
                continue  # cheap filter on the raw token; the decoded text decides below
            side = words.classify(str(self.tokenizer.decode([token_id])))
            if side is True:
                positive.append(token_id)
            elif side is False:
                negative.append(token_id)
        return sorted(positive), sorted(negative)

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
        self.positive_ids, self.negative_ids = self.lm.verdict_token_ids(self.words)
        for side, ids in (("positive", self.positive_ids), ("negative", self.negative_ids)):
            if not ids:
                words = self.words.positive if side == "positive" else self.words.negative
                raise ConfigError(f"judge {spec.name!r}: no single token of model {params['model']} spells the "
                                  f"{side} verdict word(s) {', '.join(words)}; set params.verdict_words")

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
            rows = self.lm.first_token_logprobs([encoded[i] or [] for i in todo], self.batch_size,
                                                self.max_batch_tokens)
            for index, logprobs in zip(todo, rows, strict=True):
                probs = logprobs.exp()
                p_positive = float(probs[self.positive_ids].sum())
                p_negative = float(probs[self.negative_ids].sum())
                output = self.lm.decode_token(int(logprobs.argmax()))
                verdicts[index] = verdict_from_probabilities(output, p_positive, p_negative, self.words,
                                                             prompt_tokens=len(encoded[index] or []),
                                                             completion_tokens=1)
        latency = (time.perf_counter() - began) / max(len(triples), 1)
        self.meter.add(verdicts=len(todo), prompt_tokens=sum(len(encoded[i] or []) for i in todo),
                       completion_tokens=len(todo), calls=1 if todo else 0)
        return [_with_latency(v, latency) for v in verdicts if v is not None]


def _with_latency(verdict: Verdict, latency_s: float) -> Verdict:
    from dataclasses import replace

    return replace(verdict, latency_s=latency_s)
