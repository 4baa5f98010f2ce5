"""lm-evaluation-harness hooks for this task (written by rlvr_bench.lm_eval_tasks; do not edit)."""

from pathlib import Path
from typing import Any

from rlvr_bench.lm_eval_tasks import judged_accuracy, process_results, unscored_count  # noqa: F401

TASK_FOLDER = Path(__file__).resolve().parent.parent


def load_dataset(**metadata: Any) -> Any:
    """The task's items, read relative to this file; ``metadata`` may set ``judge`` and ``split``."""
    from rlvr_bench.lm_eval_tasks import load_docs

    return load_docs(TASK_FOLDER, **metadata)
