"""The math-verify judge: equivalences, unparseable sides, deadlines in and out of the main thread."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.math_judge import MathJudge, wrap_eligible
from rlvr_bench.records import Verdict

# A response SymPy cannot finish comparing: 2^(2^(2^(2^100))) against 5 runs until killed.
TOWER = "Therefore, the answer is $2^{2^{2^{2^{100}}}}$."


def judge(**params: object) -> MathJudge:
    return MathJudge(JudgeSpec(name="math", backend="math", params=params))


def verdict_of(reference: str, response: str, **params: object) -> Verdict:
    return judge(**params).judge_batch([Triple("q", reference, response)])[0]


@pytest.mark.parametrize(
    ("reference", "response", "passed"),
    [
        ("1/2", "Therefore, the answer is $\\frac{1}{2}$.", True),
        ("0.5", "Therefore, the answer is 1/2.", True),
        ("0.5", "The answer is 50%", True),
        ("\\frac{1}{2}", "Final answer: 0.5", True),
        ("$\\frac{1}{2}$", "The answer is \\boxed{\\frac{2}{4}}.", True),
        ("x^2+1", "Therefore, the answer is 1 + x^2.", True),
        # a bare reference formula is parsed whole as LaTeX: plain "2x+3" would read as 2
        ("2x+3", "Therefore, the answer is 3+2x.", True),
        ("2x+3", "Therefore, the answer is 2.", False),
        ("(1,2)", "The answer is $(1, 2)$", True),
        ("\\sqrt{2}", "The answer is 1.41421356", True),
        # scientific notation and Unicode minus, which math-verify misreads unaided
        ("0.0035", "The answer is 3.5e-3", True),
        ("3.5 \\times 10^{-3}", "Answer: 0.0035", True),
        ("-11/9", "So the final answer is \u221211/9.", True),
        # 6-decimal rounding: 0.33 is not 1/3
        ("1/3", "The answer is 0.33", False),
        ("3", "I think 30.", False),
        # only the final step counts
        ("5", "The answer is 5.\nActually no, it is 6.", False),
    ],
)
def test_math_equivalence(reference: str, response: str, passed: bool) -> None:
    verdict = verdict_of(reference, response)
    assert verdict.passed is passed, verdict
    assert verdict.error is None
    assert verdict.raw.startswith("parsed=")


@pytest.mark.parametrize("response", ["", "   \n  ", "Therefore, the answer is Paris.", "Thought process:"])
def test_response_without_math_is_wrong(response: str) -> None:
    verdict = verdict_of("3", response)
    assert verdict.passed is False
    assert verdict.error is None
    assert verdict.raw.startswith("unparseable response")


@pytest.mark.parametrize("reference", ["Paris", "ionic bond", "A", "True"])
def test_text_reference_is_unscored(reference: str) -> None:
    verdict = verdict_of(reference, f"Therefore, the answer is {reference}.")
    assert verdict.passed is None
    assert verdict.error is not None and verdict.error.startswith("not applicable: unparseable reference")


@pytest.mark.parametrize(
    ("text", "eligible"),
    [
        ("x^2+1", True),
        ("2x+3", True),
        ("\\sqrt{2}/2", True),
        ("sin(x)+1", True),
        ("Paris", False),  # would parse as P*a*r*i*s
        ("5 mg", False),  # would parse as 5*m*g
        ("2 Ω", False),
        ("$x$", False),  # already delimited
        ("A", False),  # no digit or operator: a choice letter, not a formula
        ("", False),
    ],
)
def test_wrap_eligible(text: str, eligible: bool) -> None:
    assert wrap_eligible(text) is eligible


def test_runaway_comparison_times_out_as_unscored_in_main_thread() -> None:
    verdict = verdict_of("5", TOWER, timeout_s=1)
    assert verdict.passed is None
    assert verdict.error is not None and verdict.error.startswith("timeout")


def test_deadline_gives_back_an_outer_timer() -> None:
    # pytest-timeout (or a host application) may own SIGALRM; the judge must hand it back running.
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        verdict_of("1/2", "The answer is 0.5")
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90.0 < remaining <= 100.0
        assert signal.getsignal(signal.SIGALRM) is not None and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_judging_from_a_worker_thread_matches_the_main_thread() -> None:
    # math-verify's own signal timeouts raise outside the main thread; the judge sends such calls to a
    # worker process, whose verdicts must equal the main thread's, deadline included.
    triples = [
        Triple("q", "1/2", "Therefore, the answer is 0.5."),
        Triple("q", "3", "I think 30."),
        Triple("q", "Paris", "Paris"),
        Triple("q", "5", TOWER),
    ]
    math_judge = judge(timeout_s=1)
    in_main = math_judge.judge_batch(triples)
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_thread = pool.submit(math_judge.judge_batch, triples).result(timeout=300)
    assert [v.passed for v in in_thread] == [v.passed for v in in_main] == [True, False, None, None]
    assert in_thread[3].error is not None and in_thread[3].error.startswith("timeout")
