"""The ``minilm-classifier`` judge: a small trained head on MiniLM sentence embeddings.

The offline alternative to a distilled generative verifier (``rlvr-bench distill
--student minilm-classifier``): the packaged all-MiniLM-L6-v2 encoder (see
:mod:`rlvr_bench.judges.embed`) embeds the question ``q``, the final step ``f``,
the answer extracted from it ``a`` and the reference ``r`` (unit-length vectors,
384 numbers each), and a classifier reads the features

    a * r,  |a - r|,  f * r,  q * a,  cos(a, r),  cos(f, r),  exact(a, r),  empty(a)

(elementwise products and absolute differences; ``exact`` is 1.0 when the
normalised answer equals the normalised reference, ``empty`` when no answer was
found). The head is logistic regression or a one-hidden-layer MLP trained with
scikit-learn; its weights are stored as plain arrays in a ``.npz`` file (no
pickle) and evaluated here with numpy, so judging needs no scikit-learn.

``p_pass`` is the head's probability of YES; ``passed = p_pass >= threshold``.

Preset parameters:

- ``weights`` (str, required): the ``.npz`` file written by :func:`save_head`;
- ``model`` (str or null, default null): the sentence-transformers encoder the head
  was trained on (null = the packaged MiniLM); must match the file's record;
- ``device`` (default "cpu"), ``batch_size`` (texts per encoder pass, default 64);
- ``threshold`` (in [0, 1], default 0.5).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.embed import EncoderJudge, load_encoder, resolve_model
from rlvr_bench.judges.normalize import extract_answer, normalize_text
from rlvr_bench.judges.rules import preview
from rlvr_bench.records import Verdict

#: bump when :func:`feature_matrix` changes: a head trained on other features must not load
FEATURE_VERSION = 1
EMBEDDING_DIM = 384
FloatMatrix = NDArray[np.float64]


def feature_matrix(triples: Sequence[Triple], encoder: Any, batch_size: int = 64) -> FloatMatrix:
    """(n, 4 * dim + 4) features of ``triples`` (see the module docstring); each distinct text is encoded once."""
    answers = [extract_answer(t.final_step) for t in triples]
    columns = {"q": [t.question for t in triples], "f": [t.final_step for t in triples], "a": answers,
               "r": [t.reference for t in triples]}
    unique = sorted({text for texts in columns.values() for text in texts})
    if unique:
        vectors = np.asarray(encoder.encode(unique, batch_size=batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False), dtype=np.float64)
    else:
        vectors = np.zeros((0, EMBEDDING_DIM))
    row_of = {text: i for i, text in enumerate(unique)}

    def embed(texts: list[str]) -> FloatMatrix:
        # an empty text carries no meaning: the zero vector, not MiniLM's embedding of ""
        out = vectors[[row_of[t] for t in texts]] if texts else np.zeros((0, vectors.shape[1]))
        empty = np.array([not t.strip() for t in texts], dtype=bool)
        out[empty] = 0.0
        return out

    q, f, a, r = (embed(columns[key]) for key in ("q", "f", "a", "r"))
    exact = np.array([bool(x.strip()) and normalize_text(x) == normalize_text(y)
                      for x, y in zip(answers, columns["r"], strict=True)], dtype=np.float64)
    empty = np.array([not x.strip() for x in answers], dtype=np.float64)
    scalars = np.stack([(a * r).sum(1), (f * r).sum(1), exact, empty], axis=1)
    return np.hstack([a * r, np.abs(a - r), f * r, q * a, scalars])


@dataclass(frozen=True, eq=False)
class ClassifierHead:
    """Standardisation then dense layers (ReLU between, sigmoid at the end): P(YES) for feature rows.

    ``weights[i]`` has shape (inputs, outputs); the last layer has one output. Logistic
    regression is the case of a single layer.
    """

    mean: FloatMatrix
    scale: FloatMatrix
    weights: tuple[FloatMatrix, ...]
    biases: tuple[FloatMatrix, ...]
    #: what produced the head: kind ("mlp" / "logistic"), encoder, feature version, training summary
    info: dict[str, Any]

    def p_yes(self, features: FloatMatrix) -> NDArray[np.float64]:
        """P(YES) in [0, 1] for each row of ``features``."""
        hidden = (features - self.mean) / self.scale
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = hidden @ weight + bias
            if index < len(self.weights) - 1:
                hidden = np.maximum(hidden, 0.0)
        logits = np.clip(hidden[:, 0], -500.0, 500.0)
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)


def fit_head(features: FloatMatrix, labels: NDArray[np.bool_], kind: str = "mlp", seed: int = 0,
             hidden_size: int = 256, regularization: float = 1e-3, max_iter: int = 300) -> tuple[ClassifierHead,
                                                                                                 list[float]]:
    """Train a head on (features, teacher YES labels); returns it with its training-loss curve.

    ``kind`` "mlp": one hidden layer of ``hidden_size`` ReLU units (scikit-learn MLPClassifier, Adam,
    L2 ``regularization``, early stopping on 10 % of the rows from 500 rows on); "logistic": L2 logistic regression
    with C = 1 / ``regularization``. Features are standardised first (mean 0, sd 1; constant columns
    keep sd 1).
    """
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise ConfigError("training a minilm-classifier head needs scikit-learn: pip install scikit-learn "
                          "(judging with a trained head does not)") from None

    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        raise ConfigError("the teacher gave only one verdict (all YES or all NO) on the training set: "
                          "a classifier cannot learn from it")
    mean = features.mean(0)
    scale = features.std(0)
    scale[scale < 1e-12] = 1.0
    x = (features - mean) / scale
    curve: list[float]
    if kind == "logistic":
        model = LogisticRegression(C=1.0 / regularization, max_iter=max_iter * 10)
        model.fit(x, y)
        weights: tuple[FloatMatrix, ...] = (model.coef_.T.astype(np.float64),)
        biases: tuple[FloatMatrix, ...] = (model.intercept_.astype(np.float64),)
        curve = []
    elif kind == "mlp":
        mlp = MLPClassifier(hidden_layer_sizes=(hidden_size,), alpha=regularization, max_iter=max_iter,
                            early_stopping=len(y) >= 500, random_state=seed, n_iter_no_change=15)
        mlp.fit(x, y)
        weights = tuple(np.asarray(w, dtype=np.float64) for w in mlp.coefs_)
        biases = tuple(np.asarray(b, dtype=np.float64) for b in mlp.intercepts_)
        curve = [float(v) for v in mlp.loss_curve_]
    else:
        raise ConfigError(f"unknown classifier head {kind!r}; one of mlp, logistic")
    info = {"kind": kind, "feature_version": FEATURE_VERSION, "n_features": int(features.shape[1]),
            "n_train": len(y), "hidden_size": hidden_size if kind == "mlp" else None,
            "regularization": regularization, "seed": seed}
    return ClassifierHead(mean, scale, weights, biases, info), curve


def save_head(head: ClassifierHead, path: Path) -> Path:
    """Write the head as a ``.npz`` of plain arrays (loadable without pickle) with its info as JSON."""
    arrays: dict[str, Any] = {"mean": head.mean, "scale": head.scale,
                              "info": np.array(json.dumps(head.info, sort_keys=True))}
    for index, (weight, bias) in enumerate(zip(head.weights, head.biases, strict=True)):
        arrays[f"weight_{index}"] = weight
        arrays[f"bias_{index}"] = bias
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_head(path: Path) -> ClassifierHead:
    """Read a head written by :func:`save_head`; a missing or foreign file is a one-line ConfigError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            layers = sum(1 for key in data.files if key.startswith("weight_"))
            info = json.loads(str(data["info"]))
            head = ClassifierHead(data["mean"], data["scale"],
                                  tuple(data[f"weight_{i}"] for i in range(layers)),
                                  tuple(data[f"bias_{i}"] for i in range(layers)), info)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"cannot read classifier weights {path}: {exc}") from None
    if head.info.get("feature_version") != FEATURE_VERSION:
        raise ConfigError(f"classifier weights {path} use feature version {head.info.get('feature_version')}, "
                          f"this rlvr-bench computes version {FEATURE_VERSION}: re-run rlvr-bench distill")
    if not layers:
        raise ConfigError(f"classifier weights {path} hold no layers")
    return head


class MiniLMClassifierJudge(EncoderJudge):
    """A trained head on MiniLM embeddings of (question, final step, reference). Soft (see the module docstring)."""

    soft = True
    DEFAULTS: ClassVar[dict[str, Any]] = {"weights": None, "model": None, "device": "cpu", "threshold": 0.5,
                                          "batch_size": 64}

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        reason = super().check(spec)  # parameters, sentence-transformers, the encoder
        if reason is not None:
            return reason
        weights = cls.validated_params(spec)["weights"]
        if not weights:
            return f"judge {spec.name!r} needs params.weights: the .npz file written by rlvr-bench distill"
        if not Path(weights).expanduser().is_file():
            return f"judge {spec.name!r} needs classifier weights {weights}: file not found (re-run rlvr-bench distill)"
        return None

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        model, problem = resolve_model(self.params["model"])
        if model is None:
            raise ConfigError(f"judge {spec.name!r}: {problem}")
        self._model = model
        self.head = load_head(Path(self.params["weights"]).expanduser())

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        if not triples:
            return []
        encoder = load_encoder(self._model, self.params["device"])
        probabilities = self.head.p_yes(feature_matrix(triples, encoder, self.params["batch_size"]))
        verdicts = []
        for triple, p_yes in zip(triples, probabilities, strict=True):
            if not triple.reference.strip():
                verdicts.append(Verdict.not_applicable("empty reference"))
                continue
            p = float(p_yes)
            verdicts.append(Verdict(passed=p >= self.params["threshold"], p_pass=p,
                                    raw=f"p_yes={p:.4f} answer={preview(extract_answer(triple.final_step), 60)!r}"))
        return verdicts
