"""The minilm-classifier judge: features, the numpy head against scikit-learn, weights on disk, preset checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.minilm_classifier import (
    FEATURE_VERSION,
    ClassifierHead,
    MiniLMClassifierJudge,
    feature_matrix,
    fit_head,
    load_head,
    save_head,
)
from rlvr_bench.judges.registry import availability


class FakeEncoder:
    """Unit vectors along one axis per distinct text (axes assigned in first-seen order), dimension 4."""

    def __init__(self) -> None:
        self.axis: dict[str, int] = {}
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 4))
        for row, text in enumerate(texts):
            out[row, self.axis.setdefault(text, len(self.axis) % 4)] = 1.0
        return out


def test_feature_layout_and_scalars() -> None:
    encoder = FakeEncoder()
    triples = [Triple("q?", "42", "work\nThe answer is 42."),  # answer "42" == reference: exact, cosine 1
               Triple("q?", "42", "work\nThe answer is 24."),  # another answer: cosine 0
               Triple("q?", "42", "")]  # no answer at all: empty, zero vector
    features = feature_matrix(triples, encoder)
    # 4 blocks of the embedding dimension (a*r, |a-r|, f*r, q*a), then 4 scalars
    assert features.shape == (3, 4 * 4 + 4)
    scalars = features[:, -4:]
    # columns: cos(a, r), cos(f, r), exact, empty
    np.testing.assert_allclose(scalars[0], [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(scalars[1, [0, 2, 3]], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(scalars[2, [0, 2, 3]], [0.0, 0.0, 1.0])
    # |a - r| of the empty answer is |0 - r| = r, a unit vector: its block sums to 1
    assert features[2, 4:8].sum() == pytest.approx(1.0)
    # each distinct text encoded once, in one call
    assert len(encoder.calls) == 1 and len(encoder.calls[0]) == len(set(encoder.calls[0]))


def _separable(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 6))
    y = x[:, 0] + 0.5 * x[:, 1] > 0
    return x, y


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_numpy_head_matches_scikit_learn(kind: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = _separable()
    head, curve = fit_head(x, y, kind, seed=3, hidden_size=8, regularization=1e-2, max_iter=500)
    standardised = (x - x.mean(0)) / x.std(0)
    # the same estimator with the same settings and seed, trained here independently
    reference: Any
    if kind == "logistic":
        reference = LogisticRegression(C=100.0, max_iter=2000).fit(standardised, y)
        assert curve == []
    else:
        reference = MLPClassifier(hidden_layer_sizes=(8,), alpha=1e-2, max_iter=500, early_stopping=False,
                                  random_state=3, n_iter_no_change=15).fit(standardised, y)
        assert len(curve) > 1
    np.testing.assert_allclose(head.p_yes(x), reference.predict_proba(standardised)[:, 1], atol=1e-8)
    # and it learnt the rule
    assert ((head.p_yes(x) >= 0.5) == y).mean() > 0.9


def test_one_sided_labels_cannot_be_learnt() -> None:
    x, _ = _separable()
    with pytest.raises(ConfigError, match="only one verdict"):
        fit_head(x, np.ones(len(x), dtype=bool), "logistic")


def test_weights_round_trip_without_pickle(tmp_path: Path) -> None:
    x, y = _separable()
    head, _ = fit_head(x, y, "mlp", hidden_size=5, max_iter=50)
    path = save_head(head, tmp_path / "head.npz")
    loaded = load_head(path)
    np.testing.assert_array_equal(loaded.p_yes(x), head.p_yes(x))
    assert loaded.info == head.info
    # a head computed on other features refuses to load
    stale = ClassifierHead(head.mean, head.scale, head.weights, head.biases,
                           {**head.info, "feature_version": FEATURE_VERSION + 1})
    save_head(stale, tmp_path / "stale.npz")
    with pytest.raises(ConfigError, match="feature version"):
        load_head(tmp_path / "stale.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot read classifier weights"):
        load_head(tmp_path / "junk.npz")


@pytest.mark.parametrize(("params", "message"), [
    ({}, "needs params.weights"),
    ({"weights": "/nonexistent/head.npz"}, "file not found"),
    ({"weights": "x.npz", "threshold": 2}, "must be in [0.0, 1.0]"),
    ({"weights": "x.npz", "temperature": 1}, "unknown parameter 'temperature'"),
])
def test_preset_problems_are_one_line_reasons(params: dict[str, Any], message: str) -> None:
    reason = availability(JudgeSpec("student", "minilm-classifier", params=params))
    assert reason is not None and message in reason


def test_judge_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a fake encoder: p_pass is the head's probability, an empty reference is unscored."""
    import rlvr_bench.judges.minilm_classifier as module

    monkeypatch.setattr(module, "load_encoder", lambda model, device: FakeEncoder())
    triples = [Triple("q?", "42", "The answer is 42."), Triple("q?", "42", "The answer is 7."),
               Triple("q?", "", "The answer is 7.")]
    features = feature_matrix(triples, FakeEncoder())
    # a hand-made head: the logit is 4 x exact - 2 (standardisation off), so exact -> 0.881, else 0.119
    weight = np.zeros((features.shape[1], 1))
    weight[-2, 0] = 4.0
    head = ClassifierHead(np.zeros(features.shape[1]), np.ones(features.shape[1]), (weight,), (np.array([-2.0]),),
                          {"feature_version": FEATURE_VERSION})
    path = save_head(head, tmp_path / "head.npz")
    judge = MiniLMClassifierJudge(JudgeSpec("student", "minilm-classifier", params={"weights": str(path)}))
    verdicts = judge.judge_batch(triples)
    assert [v.passed for v in verdicts] == [True, False, None]
    assert verdicts[0].p_pass == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert verdicts[1].p_pass == pytest.approx(1 / (1 + np.exp(2.0)))
    assert verdicts[2].error == "not applicable: empty reference"
