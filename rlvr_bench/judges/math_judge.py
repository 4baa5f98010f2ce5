"""Mathematical equivalence with math-verify (``from math_verify import parse, verify``).

The reference and the response's final step are parsed into SymPy objects and
compared numerically and symbolically (1/2 == 0.5 == 50% == \\frac{1}{2},
x^2+1 == 1+x^2, sets, intervals, equations).

Before math-verify, three kinds of answer it misreads are settled here:

- **quantities with units** ("350 mg", "25 °C", "5 kg") go to the ``numeric`` judge's comparison
  (pint): math-verify drops units, so "350 µg" would pass for "350 mg" and "25 °F" for "25 °C".
  This applies when the reference is one quantity whose unit has a dimension (not "%" or "‰");
- **times** ("15:21:01", "3:21 PM") are compared as clock times, exactly: math-verify reads
  "15:21:01" as the ratio 15/21/1 and "15:21:01 PM" as 15;
- **hedges** ("either 5 or 4", "3 or 4") pass only when every alternative does.

Unicode symbols become LaTeX first ("π" -> "\\pi", "√2" -> "\\sqrt{2}", "∞" -> "\\infty"): math-verify
parses "9/2 * π" as "9/2 *" otherwise. Digits grouped by spaces are one number ("1 000").

Outcomes:

- reference unparseable (a text answer such as "Paris") -> ``passed=None``: a math
  checker cannot score the item, and calling it wrong would blame the response;
- response unparseable (no number or expression in the final step, an empty
  response) -> ``passed=False``: the reference had a mathematical answer and the
  response did not give one;
- a parse or comparison that runs past ``timeout_s`` -> ``passed=None``.

Timeouts: math-verify's own timeouts use ``signal.alarm``, which raises in any
thread but the main one, so they are disabled here (``parsing_timeout=None``,
``timeout_seconds=None``) and this module applies its own deadline instead.
A deadline matters: a response such as ``2^{2^{2^{2^{100}}}}`` makes SymPy run
forever. In the main thread the deadline is a ``SIGALRM`` interval timer; in any
other thread (a reward server, a thread pool) each triple is compared in a
single worker process whose own main thread applies the timer, and the worker is
killed and replaced if it ever fails to answer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.normalize import (
    HEDGE_WORDS,
    expand_scientific,
    extract_answer,
    join_digit_groups,
    plain_math_symbols,
    unwrap_latex,
)
from rlvr_bench.judges.numeric import NumericJudge, compare_quantities, extract_quantities, stated_quantities
from rlvr_bench.judges.rules import LocalJudge, preview, read_params, require_range
from rlvr_bench.records import NOT_APPLICABLE_PREFIX, Verdict

#: Words allowed in a plain reference that is wrapped in $...$ before parsing (function names and
#: constants); any other word of two or more letters means the text is prose or carries a unit.
_MATH_WORDS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
                         "tanh", "log", "ln", "exp", "sqrt", "pi", "infty", "inf", "lim", "max", "min"})
_LATEX_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")
_MATH_SIGNS = re.compile(r"[\d+\-*/^=<>(){}\[\]\\]")
_WORDS = re.compile(r"(?<!\\)\b[A-Za-z]{2,}\b")

#: Unicode math symbols math-verify does not read outside LaTeX, as LaTeX.
#: Constants and operators only: a Greek variable made ASCII would let "v0^2 sin(2θ)/g" parse as the
#: product v*0**2*s*i*n*2*theta, which is 0 whatever the response says.
_UNICODE_LATEX = {"π": "\\pi ", "∞": "\\infty ", "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ", "÷": "/",
                  "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "±": "\\pm ", "∓": "\\mp ", "∪": "\\cup ",
                  "∩": "\\cap ", "∅": "\\emptyset "}
_SQRT = re.compile(r"√\s*(?:\(([^()]*)\)|\{([^{}]*)\}|(\d+(?:\.\d+)?|[A-Za-z]))")
#: A clock time: "15:21", "15:21:01", "3:21:01 PM", "9:05 a.m."
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?(?![\d:])\s*([ap]\.?\s?m\b\.?)?",
                   re.IGNORECASE)

#: Extra seconds the parent waits for the worker process beyond the deadline it applies itself.
_WORKER_GRACE_S = 10.0
#: Seconds allowed for the worker process to start (it imports SymPy and math-verify).
_WORKER_START_S = 120.0


class _Deadline(BaseException):
    """Raised by the SIGALRM handler. A BaseException so that library code catching Exception lets it through."""


@dataclass(frozen=True)
class _Outcome:
    """A comparison result that can cross a process boundary."""

    passed: bool | None
    raw: str
    error: str | None = None

    def verdict(self) -> Verdict:
        return Verdict(passed=self.passed, raw=self.raw, error=self.error)


class _DropTimeoutDisabledWarning(logging.Filter):
    """math-verify warns once that its timeouts are off; this module applies its own deadline instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


_TIMEOUT_FILTER = _DropTimeoutDisabledWarning()


def _silence_timeout_warnings() -> None:
    for name in ("math_verify.parser", "math_verify.grader"):
        logger = logging.getLogger(name)
        if _TIMEOUT_FILTER not in logger.filters:
            logger.addFilter(_TIMEOUT_FILTER)


def wrap_eligible(text: str) -> bool:
    """True when ``text`` is a bare formula worth parsing as LaTeX: "x^2+1", "2x+3", "(1,2)", "\\sqrt{2}/2".

    It must hold a digit, an operator or a LaTeX command, no math delimiters yet, and no words other
    than function names: "Paris" would otherwise parse as the product P*a*r*i*s, and "5 mg" as 5*m*g.
    """
    stripped = text.strip()
    if not stripped or any(delimiter in stripped for delimiter in _LATEX_DELIMITERS):
        return False
    if any(not char.isascii() for char in stripped):
        return False  # "2 Ω", "25 °C", "x ∈ {2, 3}": units and symbols latex2sympy would misread
    if not _MATH_SIGNS.search(stripped):
        return False
    return all(word.lower() in _MATH_WORDS for word in _WORDS.findall(stripped))


def parse_math(text: str, bare_formula: str | None = None) -> list[Any]:
    """math-verify's parse of ``text`` (timeouts disabled; the caller applies a deadline).

    ``bare_formula`` (the extracted answer, or the reference itself) is tried first as ``$...$``
    when :func:`wrap_eligible` allows: math-verify reads a plain "2x+3" as 2 but "$2x+3$" whole.
    Unicode superscripts and minus signs become ASCII and scientific notation is expanded first
    (math-verify reads "3.5e-3" as 3.5 and "−11/9" as text).
    """
    from math_verify import parse

    _silence_timeout_warnings()
    if bare_formula is not None:
        formula = expand_scientific(plain_math_symbols(bare_formula.strip()))
        if wrap_eligible(formula):
            wrapped: list[Any] = parse(f"${formula}$", parsing_timeout=None)
            if wrapped:
                return wrapped
    parsed: list[Any] = parse(expand_scientific(plain_math_symbols(text)), parsing_timeout=None)
    return parsed


def latex_symbols(text: str) -> str:
    """Unicode math symbols as LaTeX ("9/2 * π" -> "9/2 * \\pi", "3√2" -> "3\\sqrt{2}"), digit groups joined."""
    if not text.isascii():
        text = _SQRT.sub(lambda m: "\\sqrt{" + next(g for g in m.groups() if g is not None) + "}", text)
        for symbol, latex in _UNICODE_LATEX.items():
            text = text.replace(symbol, latex)
    return join_digit_groups(text)


def _clock(match: re.Match[str]) -> tuple[int, int, float] | None:
    """(hours on a 24-hour clock, minutes, seconds) of a matched time; None when it is no time of day."""
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = float(match.group(3) or 0)
    half = (match.group(4) or "").lower().replace(".", "").replace(" ", "")
    if half and hours <= 12:  # "15:21 PM" is a 24-hour time with a redundant suffix
        if hours == 0:
            return None
        hours = hours % 12 + (12 if half == "pm" else 0)
    if hours > 24 or minutes > 59 or seconds >= 61:
        return None
    return hours, minutes, seconds


def compare_times(reference: str, answer: str) -> _Outcome | None:
    """Clock times compared exactly (None when the reference is not a time: "9:3:3:1", "2:1" are ratios)."""
    wanted = _TIME.fullmatch(unwrap_latex(reference).replace("$", " ").strip().rstrip("."))
    if wanted is None or _clock(wanted) is None:
        return None
    stated = [(m.group(0).strip(), _clock(m)) for m in _TIME.finditer(answer)]
    stated = [(text, clock) for text, clock in stated if clock is not None]
    if not stated:
        return _Outcome(False, f"no time in response {preview(answer, 40)!r}")
    text, clock = stated[-1]
    return _Outcome(clock == _clock(wanted), f"parsed time {text!r} against {wanted.group(0).strip()!r}")


def _dimensional(unit: Any) -> bool:
    return unit is not None and not unit.dimensionless


def compare_units(reference: str, answer: str) -> _Outcome | None:
    """The ``numeric`` judge's comparison when the reference is one quantity with a unit that has a dimension
    ("350 mg" vs "350 µg once daily"); None otherwise (math-verify decides)."""
    if not re.search(r"\d", reference) or not re.search(r"\d\s*\S*[^\W\d_]", reference + " " + answer):
        return None  # no number, or no letter after a number on either side: nothing for pint to read
    found = extract_quantities(reference)
    if len(found) != 1 or found[0].in_formula:
        return None
    if not _dimensional(found[0].unit):  # "35‰", "50%", "5": math-verify compares the numbers as before
        return None
    stated = stated_quantities(answer, found[0])
    if not stated:
        return None
    params = NumericJudge.DEFAULTS
    result = compare_quantities(found[0], stated[-1], params["rel_tol"], params["abs_tol"], params["rounding"])
    return _Outcome(result.passed, f"quantity: {preview(result.detail, 120)}", result.error)


def _alternatives(reference: str, answer: str) -> list[str]:
    """The values a hedged answer names ("either 5 or 4" -> ["5", "4"]); [] when it is no hedge.

    A hedge is values joined by "or": after a lead-in without digits ("It is either"), every part holds
    a digit; "2 Ω, less than either resistor alone" is no hedge.
    """
    if not HEDGE_WORDS.search(answer) or HEDGE_WORDS.search(reference):
        return []
    parts = [part.strip(" ,;") for part in HEDGE_WORDS.split(answer)]
    if parts and not re.search(r"\d", parts[0]):
        parts = parts[1:]
    parts = [part for part in parts if part]
    return parts if len(parts) > 1 and all(re.search(r"\d", part) for part in parts) else []


def compare(reference: str, final_step: str, float_rounding: int) -> _Outcome:
    """Parse both sides and compare them; no deadline (see :func:`compare_with_deadline`)."""
    reference, final_step = latex_symbols(reference), latex_symbols(final_step)
    answer = extract_answer(final_step)
    alternatives = _alternatives(reference, answer)
    if len(alternatives) > 1:
        outcomes = [_compare_answer(reference, part, part, float_rounding) for part in alternatives]
        worst = next((o for o in outcomes if o.passed is not True), outcomes[0])
        if worst.passed is None:
            return worst
        return _Outcome(worst.passed, f"hedged answer ({len(alternatives)} values): {worst.raw}")
    return _compare_answer(reference, final_step, answer, float_rounding)


def _compare_answer(reference: str, final_step: str, answer: str, float_rounding: int) -> _Outcome:
    from math_verify import verify

    for special in (compare_times, compare_units):
        outcome = special(reference, answer)
        if outcome is not None:
            return outcome
    gold = parse_math(reference, bare_formula=reference)
    if not gold:
        return _Outcome(None, "", f"{NOT_APPLICABLE_PREFIX}unparseable reference {preview(reference, 40)!r}")
    predicted = parse_math(final_step, bare_formula=answer)
    if not predicted:
        return _Outcome(False, f"unparseable response {preview(answer, 40)!r}")
    # math-verify returns [sympy object, matched string]; the string says what was compared.
    shown = predicted[-1] if isinstance(predicted[-1], str) else str(predicted[0])
    passed = bool(verify(gold, predicted, float_rounding=float_rounding, timeout_seconds=None))
    return _Outcome(passed, f"parsed={preview(shown, 60)!r}")


@contextmanager
def _sigalrm_deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`_Deadline` in the main thread after ``seconds`` (restores the previous handler)."""

    if not hasattr(signal, "setitimer"):  # no interval timers (Windows): run without a deadline
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise _Deadline

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    # Another user of the timer (pytest-timeout, a host application) gets it back afterwards,
    # minus the time spent here, so its own deadline still holds.
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            remaining = max(previous_delay - (time.monotonic() - began), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)


_WARM = threading.Event()


def warm_up() -> None:
    """Import math-verify and SymPy, build its parsers and pint's unit registry once, so that no deadline pays
    for it (~2 s): a deadline that fires inside an import leaves that module half-imported for the process."""
    if not _WARM.is_set():
        from math_verify import parse, verify

        _silence_timeout_warnings()
        verify(parse("$1$", parsing_timeout=None), parse("1", parsing_timeout=None), timeout_seconds=None)
        compare_units("25 °C", "77 °F")  # the unit comparison's registry and its lazy imports
        _WARM.set()


def compare_with_deadline(reference: str, final_step: str, float_rounding: int, timeout_s: float) -> _Outcome:
    """:func:`compare` under a SIGALRM deadline; call only from a main thread (the worker's or ours)."""
    warm_up()
    try:
        with _sigalrm_deadline(timeout_s):
            return compare(reference, final_step, float_rounding)
    except _Deadline:
        return _Outcome(None, "", f"timeout: comparison took more than {timeout_s:g} s")
    except Exception as exc:  # a SymPy failure on one triple makes that verdict unscored
        return _Outcome(None, "", f"math-verify failed: {type(exc).__name__}: {preview(str(exc), 60)}")


class _WorkerProcess:
    """One lazily started worker process, shared by every thread that is not the main thread.

    It is a plain ``python -c`` child speaking JSON lines on stdin/stdout rather than a
    multiprocessing pool: spawn-based pools re-import the caller's ``__main__``, which breaks
    scripts without an ``if __name__ == "__main__"`` guard, and fork is unsafe in a threaded process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._warm = False

    def _start(self) -> subprocess.Popen[str]:
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding rlvr_bench/
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self._warm = False
        return subprocess.Popen(
            [sys.executable, "-c", "from rlvr_bench.judges.math_judge import serve_worker; serve_worker()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def compare(self, reference: str, final_step: str, float_rounding: int, timeout_s: float) -> _Outcome:
        request = {"reference": reference, "final_step": final_step, "float_rounding": float_rounding,
                   "timeout_s": timeout_s}
        with self._lock:  # one request in flight: the protocol is strictly request / response
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            wait_s = timeout_s + _WORKER_GRACE_S + (0.0 if self._warm else _WORKER_START_S)
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
            except OSError:
                self._stop()
                return _Outcome(None, "", "math worker process died")
            ready, _, _ = select.select([process.stdout], [], [], wait_s)
            line = process.stdout.readline() if ready else ""
            if not line:
                # No answer in time (the worker is stuck in C code past its own deadline) or it died.
                self._stop()
                reason = f"no answer within {wait_s:g} s" if not ready else "exited"
                return _Outcome(None, "", f"timeout: math worker process {reason}")
            self._warm = True
            return _Outcome(**json.loads(line))


def serve_worker() -> None:
    """The worker process's loop: one JSON request per stdin line, one JSON outcome per stdout line."""
    replies = sys.stdout
    sys.stdout = sys.stderr  # a stray print in a library must not corrupt the reply stream
    for line in sys.stdin:
        request = json.loads(line)
        outcome = compare_with_deadline(request["reference"], request["final_step"], int(request["float_rounding"]),
                                        float(request["timeout_s"]))
        replies.write(json.dumps(asdict(outcome)) + "\n")
        replies.flush()


_WORKER = _WorkerProcess()


class MathJudge(LocalJudge):
    """Mathematical equivalence of the final step and the reference, by math-verify. Binary.

    Parameters:
        timeout_s (float > 0, default 5.0): deadline for parsing and comparing one triple, in seconds;
            past it the verdict is unscored (math-verify's own default is 5 s per operation).
        float_rounding (int >= 0, default 6): decimal places math-verify rounds floats to before
            comparing (its own default), so 0.3333333 == 1/3 but 0.33 != 1/3.
    """

    soft = False
    DEFAULTS: ClassVar[dict[str, Any]] = {"timeout_s": 5.0, "float_rounding": 6}

    @classmethod
    def validated_params(cls, spec: JudgeSpec) -> dict[str, Any]:
        params = read_params(spec, cls.DEFAULTS)
        require_range(spec, "timeout_s", params["timeout_s"], 1e-3, 3600.0)
        require_range(spec, "float_rounding", params["float_rounding"], 0, 100)
        return params

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        if find_spec("math_verify") is None:
            return f"judge {spec.name!r} needs the package math-verify: pip install math-verify"
        return super().check(spec)

    def judge_one(self, triple: Triple) -> Verdict:
        rounding: int = self.params["float_rounding"]
        timeout_s: float = self.params["timeout_s"]
        if threading.current_thread() is threading.main_thread():
            return compare_with_deadline(triple.reference, triple.final_step, rounding, timeout_s).verdict()
        return _WORKER.compare(triple.reference, triple.final_step, rounding, timeout_s).verdict()
