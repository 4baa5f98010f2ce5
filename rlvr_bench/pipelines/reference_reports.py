"""Regenerate ``reports/``: the reference reports of the bundled tasks (``make reports``).

Every run uses offline judges only and no judgment cache, so the verdicts come
from the current judge code; each run directory gets its ``report.html``, and
``reports/index.html`` links them with their headline numbers. A visitor of the
repository opens any of them without installing anything.

    python -m rlvr_bench.pipelines.reference_reports [REPORTS_DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rlvr_bench import __version__
from rlvr_bench.report.formatting import ci_text
from rlvr_bench.report.render import REPORT_FILE, environment, render_report, write_run_report
from rlvr_bench.rundir import git_revision, load_run

#: bootstrap resamples and seed of every reference run
N_BOOTSTRAP = 1000
SEED = 0


@dataclass(frozen=True)
class ReferenceRun:
    """One run directory under ``reports/``: its folder name, what it shows, and how to produce it."""

    name: str
    description: str
    command: str
    produce: Callable[[Path], object]
    #: hours of compute: run only when named (``--only NAME``); its report is still re-rendered
    slow: bool = False


def _agreement(task: str) -> Callable[[Path], object]:
    def produce(out: Path) -> object:
        from rlvr_bench.pipelines.agreement import agreement

        return agreement(task=task, out=out, n_bootstrap=N_BOOTSTRAP, seed=SEED, use_cache=False)

    return produce


def _verify(task: str) -> Callable[[Path], object]:
    def produce(out: Path) -> object:
        from rlvr_bench.pipelines.verify import verify

        return verify(task=task, out=out, n_bootstrap=N_BOOTSTRAP, seed=SEED, attacks=True, use_cache=False)

    return produce


#: what a train-and-eval reference run keeps: the report's inputs, not the checkpoints (megabytes each)
TRAIN_AND_EVAL_KEPT = ("config.json", "results.json", "items.jsonl", "responses.jsonl", "judgments.jsonl",
                       "cells/*/log.jsonl", "cells/*/results.json", "cells/*/config.json")


#: where a slow reference run trains (kept: a killed run resumes there at the stage it was in)
RESUMABLE_RUNS = Path("runs") / "reference"


def _train_and_eval(recipe: str, resumable: bool = False) -> Callable[[Path], object]:
    def produce(out: Path) -> object:
        import tempfile

        from rlvr_bench.training.matrix import MatrixRequest, train_and_eval

        if resumable:
            run = RESUMABLE_RUNS / out.name
            results = train_and_eval(MatrixRequest(recipe=recipe, out=run), say=print)
            keep_report_inputs(run, out)
            return results
        with tempfile.TemporaryDirectory() as scratch:
            run = Path(scratch) / out.name
            results = train_and_eval(MatrixRequest(recipe=recipe, out=run), say=print)
            keep_report_inputs(run, out)
        return results

    return produce


def keep_report_inputs(run: Path, out: Path) -> None:
    """Copy the files a train-and-eval report reads from ``run`` to ``out`` (replacing ``out``)."""
    if out.exists():
        shutil.rmtree(out)
    for pattern in TRAIN_AND_EVAL_KEPT:
        for source in sorted(run.glob(pattern)):
            target = out / source.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


REFERENCE_RUNS: tuple[ReferenceRun, ...] = (
    ReferenceRun("agreement-starter", "Agreement of every offline judge on the 72 labelled responses of the "
                 "hand-written starter task (8 domains).", "agreement", _agreement("starter")),
    ReferenceRun("agreement-verifier-gold", "Agreement of every offline judge on the verifier-gold task "
                 "(labelled responses to 114 questions over 12 domains).", "agreement", _agreement("verifier-gold")),
    ReferenceRun("verify-verifier-gold", "Accuracy of every offline judge against gold labels on verifier-gold, "
                 "with calibration of the soft judges and the master-key / perturbation attack suite.", "verify",
                 _verify("verifier-gold")),
    ReferenceRun("train-and-eval-mini-demo", "`make demo`'s experiment (recipe mini-demo): rule against model "
                 "reward from one SFT start, every policy judged on 1,200 held-out questions; checkpoints left out.",
                 "train-and-eval", _train_and_eval("mini-demo")),
    ReferenceRun("train-and-eval-smol-matrix", "The study's Table 1 on a real pretrained policy (recipe smol-matrix): "
                 "SmolLM2-135M-Instruct trained by Dr. GRPO with rule (contains, jaccard) and model (smol-verifier) "
                 "rewards, binary and soft, every policy judged by auto and smol-verifier on 240 held-out expert-qa "
                 "questions; about 70 minutes on 2 CPU cores, checkpoints left out.", "train-and-eval",
                 _train_and_eval("smol-matrix", resumable=True), slow=True),
)
#: comparison pages: (file name, title, run names)
COMPARISONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("compare-agreement-starter-vs-verifier-gold.html",
     "The same offline judges on two tasks: how much their agreement depends on the data.",
     ("agreement-starter", "agreement-verifier-gold")),
)


def regenerate(reports_dir: Path, only: Sequence[str] = (), allow_dirty: bool = False) -> list[Path]:
    """Re-run the reference runs (all, or those named in ``only``) and rewrite every report; returns the HTML files.

    Refuses to run from a checkout with uncommitted changes (unless ``allow_dirty``): each run records the
    git revision it was made with, and a committed reference report must name a commit anyone can check out.
    """
    unknown = set(only) - {run.name for run in REFERENCE_RUNS}
    if unknown:
        raise SystemExit(f"unknown reference run(s): {', '.join(sorted(unknown))}")
    revision = git_revision()
    if revision is not None and revision.endswith("-dirty") and not allow_dirty:
        raise SystemExit(f"the checkout has uncommitted changes ({revision}): commit them first, so the reference "
                         "runs record a revision anyone can check out (or pass --allow-dirty for a local try)")
    import tempfile

    reports_dir.mkdir(parents=True, exist_ok=True)
    # every run is written outside the checkout and moved in only when all have finished: a run written into
    # reports/ would make the checkout dirty, and every later run would record a "-dirty" revision
    with tempfile.TemporaryDirectory(prefix="rlvr-bench-reports-") as scratch:
        produced = []
        for run in REFERENCE_RUNS:
            if run.name in only or (not only and not run.slow):
                print(f"running {run.name} ...", flush=True)
                run.produce(Path(scratch) / run.name)
                produced.append(run.name)
            elif run.slow and not only:
                print(f"{run.name}: not re-run (hours of compute; --only {run.name} runs it, resuming "
                      f"{RESUMABLE_RUNS / run.name})", flush=True)
        for name in produced:
            if (reports_dir / name).exists():
                shutil.rmtree(reports_dir / name)
            shutil.copytree(Path(scratch) / name, reports_dir / name)
    return render_pages(reports_dir)


def render_pages(reports_dir: Path) -> list[Path]:
    """Re-render every run's report.html, the comparison pages and the index from the run directories on disk."""
    written = []
    for run in REFERENCE_RUNS:
        if (reports_dir / run.name / "config.json").is_file():
            written.append(write_run_report(reports_dir / run.name))
    for file_name, _, names in COMPARISONS:
        folders = [reports_dir / name for name in names]
        if all((folder / "config.json").is_file() for folder in folders):
            written.append(render_report(folders, reports_dir / file_name))
    written.append(write_index(reports_dir))
    return written


def _headline(folder: Path) -> list[str]:
    """Two or three numbers that say what a run found (shown on the index)."""
    results = load_run(folder).results
    overall = results.get("overall")
    lines = []
    if results.get("schema") == "rlvr-bench/agreement/v1" and isinstance(overall, dict):
        multi = overall.get("multi_rater") or {}
        lines.append(f"Fleiss' κ {ci_text(multi.get('fleiss_kappa'))}, Gwet's AC1 {ci_text(multi.get('gwet_ac1'))}")
    elif results.get("schema") == "rlvr-bench/verify/v1" and isinstance(overall, dict):
        best = max(((judge, (entry.get("accuracy") or {}).get("estimate")) for judge, entry in overall.items()),
                   key=lambda pair: pair[1] if pair[1] is not None else -1.0, default=None)
        if best is not None:
            lines.append(f"most accurate: {best[0]}, {ci_text(overall[best[0]].get('accuracy'))}")
    elif results.get("schema") == "rlvr-bench/train-and-eval/v1":
        from rlvr_bench.report.summary import train_and_eval_summary

        lines.extend(line.strip() for line in train_and_eval_summary(results)[1:])
    return lines


def write_index(reports_dir: Path) -> Path:
    """``reports/index.html``: links to every reference report and comparison, with a one-line finding each."""
    entries = []
    for run in REFERENCE_RUNS:
        folder = reports_dir / run.name
        if (folder / REPORT_FILE).is_file():
            entries.append({"href": f"{run.name}/{REPORT_FILE}", "name": run.name, "command": run.command,
                            "description": run.description, "headline": _headline(folder)})
    comparisons = [{"href": file_name, "name": file_name.removesuffix(".html"), "description": text}
                   for file_name, text, _ in COMPARISONS if (reports_dir / file_name).is_file()]
    html = environment().get_template("index.html.j2").render(entries=entries, comparisons=comparisons,
                                                              version=__version__)
    path = reports_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports_dir", nargs="?", type=Path, default=Path("reports"))
    parser.add_argument("--only", nargs="*", default=[], help="Re-run only these runs (others are re-rendered).")
    parser.add_argument("--render-only", action="store_true", help="Re-render the HTML from the runs on disk.")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="Run even with uncommitted changes (the runs then record a '-dirty' revision).")
    args = parser.parse_args(argv)
    if args.render_only:
        paths = render_pages(args.reports_dir)
    else:
        for stale in args.reports_dir.glob(".*.partial-*"):  # a run killed mid-way leaves its staging folder
            shutil.rmtree(stale, ignore_errors=True)
        paths = regenerate(args.reports_dir, args.only, allow_dirty=args.allow_dirty)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
