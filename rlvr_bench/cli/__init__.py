"""Command-line interface: ``rlvr-bench COMMAND``. One module per command group."""

from rlvr_bench.cli import agreement as _agreement  # noqa: F401  (registers commands)
from rlvr_bench.cli import catalog as _catalog  # noqa: F401
from rlvr_bench.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
