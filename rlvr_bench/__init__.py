"""rlvr-bench: measure and train with verifiers for RL with verifiable rewards.

Notebook API (mirrors the CLI)::

    import rlvr_bench as rb
    result = rb.agreement(task="starter", judges=["exact", "contains", "numeric"])
    result.kappa_matrix()
    run = rb.load_run(result.run_dir)
    run.judgments_frame()          # pandas DataFrame, one row per verdict

Attributes are imported lazily so ``import rlvr_bench`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "agreement": "rlvr_bench.pipelines.agreement",
    "AgreementResult": "rlvr_bench.pipelines.agreement",
    "load_run": "rlvr_bench.rundir",
    "Run": "rlvr_bench.rundir",
    "load_task": "rlvr_bench.tasks",
    "list_tasks": "rlvr_bench.tasks",
    "resolve_preset": "rlvr_bench.judges.registry",
    "build_judge": "rlvr_bench.judges.registry",
    "Item": "rlvr_bench.records",
    "Response": "rlvr_bench.records",
    "Verdict": "rlvr_bench.records",
    "Judgment": "rlvr_bench.records",
    "Triple": "rlvr_bench.judges.base",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rlvr_bench' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
