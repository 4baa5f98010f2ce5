"""Every bundled task as an lm-evaluation-harness task, scored by an rlvr-bench judge.

Each task folder holds ``lm_eval/rlvr_<name>.yaml`` and ``lm_eval/utils.py``
(written by :func:`write_lm_eval_files`; ``python -m rlvr_bench.lm_eval_tasks``
refreshes them all). The YAML is data and prompt only; the logic is here:

- :func:`load_docs` (the YAML's ``custom_dataset``) reads the task's items
  *relative to the task folder*, so ``--include_path tasks/NAME/lm_eval`` works
  from any working directory; ``--metadata '{"judge": "math", "split": "test"}'``
  chooses the judge (default :data:`DEFAULT_JUDGE`) and the split (default test);
- :func:`process_results` asks the judge about the response: ``judged_accuracy``
  is 1.0 / 0.0, and a judge failure is ``None`` (left out of the mean and
  counted by the ``unscored`` metric, never scored as wrong).

The prompt is the one ``rlvr-bench eval`` uses: the task ``description`` is its
system prompt (the task's own where task.yaml's ``generation:`` sets one, else the
default) and the question is the user turn, and ``max_gen_toks`` is the task's
``max_new_tokens`` where it sets one, so with
``--apply_chat_template`` both harnesses send the model the same text, and greedy
decoding gives the same responses and the same judged accuracy.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT

if TYPE_CHECKING:
    from rlvr_bench.judges.base import Triple

#: the judge used when ``--metadata`` names none: the study's rule-based binary reward
DEFAULT_JUDGE = "contains"
#: generated tokens per response unless ``--gen_kwargs max_gen_toks=N`` says otherwise
DEFAULT_MAX_GEN_TOKS = 512
UTILS_PY = '''"""lm-evaluation-harness hooks for this task (written by rlvr_bench.lm_eval_tasks; do not edit)."""

from pathlib import Path
from typing import Any

from rlvr_bench.lm_eval_tasks import judged_accuracy, process_results, unscored_count  # noqa: F401

TASK_FOLDER = Path(__file__).resolve().parent.parent


def load_dataset(**metadata: Any) -> Any:
    """The task's items, read relative to this file; ``metadata`` may set ``judge`` and ``split``."""
    from rlvr_bench.lm_eval_tasks import load_docs

    return load_docs(TASK_FOLDER, **metadata)
'''


def lm_eval_task_name(task_name: str) -> str:
    """The lm-eval task name of a bundled task: ``rlvr_`` + the name with dashes as underscores."""
    return "rlvr_" + task_name.replace("-", "_")


def load_docs(task_folder: Path | str, judge: str = DEFAULT_JUDGE, split: str = "test", **_: Any) -> Any:
    """A ``datasets.DatasetDict`` whose "test" split holds the task's items of ``split``.

    Each row: id, domain, question, reference, aliases (further acceptable references), answer_type,
    and ``judge`` (the preset that scores
    it). Extra keyword arguments (lm-eval passes model arguments and its own metadata) are ignored.
    """
    import datasets

    from rlvr_bench.judges.registry import build_judges
    from rlvr_bench.tasks import load_task

    build_judges([judge])  # an unknown or unavailable judge fails here, before any generation
    task = load_task(str(task_folder))
    rows = [{"id": item.id, "domain": item.domain, "question": item.question, "reference": item.reference,
             "aliases": list(item.aliases), "answer_type": item.answer_type, "judge": judge}
            for item in task.items_in(split)]
    if not rows:
        raise ValueError(f"task {task.name!r} has no items in split {split!r}")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


@functools.lru_cache(maxsize=8)
def _judge(name: str) -> Any:
    from rlvr_bench.judges.registry import build_judges

    return build_judges([name])[0]


def doc_triple(doc: Mapping[str, Any], text: str) -> Triple:
    """What the judge sees for one lm-eval document: its item's fields and the whole generated text."""
    from rlvr_bench.judges.base import Triple

    return Triple(question=str(doc["question"]), reference=str(doc["reference"]), response=text,
                  answer_type=str(doc.get("answer_type", "text")), domain=str(doc.get("domain", "")),
                  aliases=tuple(str(a) for a in doc.get("aliases") or ()))


def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, float | None]:
    """lm-eval hook: the judge's verdict on the generated text (judged on its final step)."""
    from rlvr_bench.judging import judge_triples

    triple = doc_triple(doc, results[0])
    # the one verdict path: a backend failure is an unscored verdict, a bug propagates
    passed = judge_triples(_judge(str(doc.get("judge", DEFAULT_JUDGE))), [triple])[0].passed
    return {"judged_accuracy": None if passed is None else float(passed), "unscored": float(passed is None)}


def judged_accuracy(values: Sequence[float | None]) -> float:
    """Mean over scored responses (judge failures, None, left out); nan when none was scored."""
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else float("nan")


def unscored_count(values: Sequence[float]) -> float:
    """How many responses the judge could not score."""
    return float(sum(values))


def task_yaml(task_name: str) -> str:
    """The lm-eval YAML of one bundled task (prompt and data wiring only), with the task's own generation
    defaults (task.yaml ``generation:``) where it declares them, as ``rlvr-bench eval`` uses them."""
    from rlvr_bench.pipelines.evaluate import read_task_generation
    from rlvr_bench.tasks import load_task

    defaults = read_task_generation(load_task(task_name).info)
    system_prompt = defaults.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
    max_gen_toks = defaults.get("max_new_tokens", DEFAULT_MAX_GEN_TOKS)

    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    return f"""# lm-evaluation-harness task for rlvr-bench's `{task_name}` (written by rlvr_bench.lm_eval_tasks).
#   lm_eval --model hf --model_args pretrained=PATH --apply_chat_template \\
#     --include_path tasks/{task_name}/lm_eval --tasks {lm_eval_task_name(task_name)} [--metadata '{{"judge": "math"}}']
task: {lm_eval_task_name(task_name)}
custom_dataset: !function utils.load_dataset
test_split: test
output_type: generate_until
# the system prompt of `rlvr-bench eval` (a system turn with --apply_chat_template)
description: {quoted(system_prompt)}
doc_to_text: question
doc_to_target: reference
generation_kwargs:
  until: []
  do_sample: false
  max_gen_toks: {max_gen_toks}
process_results: !function utils.process_results
metric_list:
  - metric: judged_accuracy
    aggregation: !function utils.judged_accuracy
    higher_is_better: true
  - metric: unscored
    aggregation: !function utils.unscored_count
    higher_is_better: false
metadata:
  version: 1.0
  judge: {DEFAULT_JUDGE}
  split: test
"""


def write_lm_eval_files(task_folder: Path) -> Path:
    """Write ``lm_eval/rlvr_<name>.yaml`` and ``lm_eval/utils.py`` into a task folder; returns the lm_eval folder."""
    from rlvr_bench.tasks import load_task

    name = load_task(str(task_folder)).name
    folder = task_folder / "lm_eval"
    folder.mkdir(exist_ok=True)
    (folder / f"{lm_eval_task_name(name)}.yaml").write_text(task_yaml(name), encoding="utf-8")
    (folder / "utils.py").write_text(UTILS_PY, encoding="utf-8")
    return folder


def main() -> None:
    """Refresh the lm-eval files of every bundled task."""
    from rlvr_bench.tasks import task_folders

    for folder in task_folders().values():
        print(write_lm_eval_files(folder))


if __name__ == "__main__":
    main()
