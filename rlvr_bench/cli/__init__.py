"""Command-line interface: ``rlvr-bench COMMAND``. One module per command group."""

from rlvr_bench.cli import agreement as _agreement  # noqa: F401  (registers commands)
from rlvr_bench.cli import catalog as _catalog  # noqa: F401
from rlvr_bench.cli import distill as _distill  # noqa: F401
from rlvr_bench.cli import evaluate as _evaluate  # noqa: F401
from rlvr_bench.cli import llm_judges as _llm_judges  # noqa: F401
from rlvr_bench.cli import report as _report  # noqa: F401
from rlvr_bench.cli import train as _train  # noqa: F401
from rlvr_bench.cli import train_and_eval as _train_and_eval  # noqa: F401
from rlvr_bench.cli import verify as _verify  # noqa: F401
from rlvr_bench.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
