"""The response's final step: the part of a response that the study's verifier judges.

Kept apart from :mod:`rlvr_bench.records` (which re-exports :func:`final_step`) because what counts
as the final step is a judging decision, shared by every judge and every call site.
"""

from __future__ import annotations

import re

__all__ = ["final_step"]

#: A line that only closes a block: a display-math end (``\\]``, ``\\)``, ``$$``, ``\\end{align}``), braces,
#: a code fence. Such a line states nothing; the line it closes does.
_CLOSING_LINE = re.compile(r"^(?:\s|\}|\$|\\\]|\\\)|\\end\{[^{}]*\})+[.,;]?$|^(?:```|~~~)$")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def final_step(text: str) -> str:
    r"""The response's final step: its last non-empty line, stripped (the study's "final step").

    The study's verifier sees only this line, so a policy cannot hide a wrong final answer behind
    correct-looking reasoning. Two refinements keep that line the one that states something:

    - lines that only close a block (``\]``, ``$$``, ``}``, ``\end{...}``, a code fence) are skipped, so
      "\[\n\boxed{42}\n\]" gives "\boxed{42}";
    - a ``\boxed{...}`` that opens on an earlier line and closes on or after that line is read whole:
      the final step runs from the line where it opens to the line where it closes, joined by spaces.

    Empty text gives "". Text made of closing lines only gives its last one.
    """
    lines = text.splitlines()
    filled = [index for index, line in enumerate(lines) if line.strip()]
    if not filled:
        return ""
    stating = [index for index in filled if not _CLOSING_LINE.match(lines[index].strip())]
    last = stating[-1] if stating else filled[-1]
    first = _boxed_start(lines, last)
    return " ".join(line.strip() for line in lines[first : _boxed_end(lines, first, last) + 1] if line.strip())


def _boxed_start(lines: list[str], last: int) -> int:
    """The line where a ``\boxed{`` opens whose argument is still open at the start of line ``last``."""
    before = "\n".join(lines[:last])
    for match in reversed(list(_BOXED.finditer(before))):
        depth = 0
        for char in before[match.end() - 1 :]:
            depth += (char == "{") - (char == "}")
            if depth == 0:
                break
        if depth > 0:
            return before.count("\n", 0, match.start())
        # an argument closed before ``last``: any earlier \boxed opened before it too
        return last
    return last


def _boxed_end(lines: list[str], first: int, last: int) -> int:
    """The line where a ``\\boxed{`` on lines ``first``..``last`` closes (``last``: it closes there, or none opens)."""
    if not any(_BOXED.search(line) for line in lines[first : last + 1]):
        return last
    depth = sum(line.count("{") - line.count("}") for line in lines[first : last + 1])
    end = last
    while depth > 0 and end + 1 < len(lines):
        end += 1
        depth += lines[end].count("{") - lines[end].count("}")
    return end
