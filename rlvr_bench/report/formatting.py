"""Number formatting shared by the sections and the templates (registered as jinja filters).

An *estimate block* is ``{"estimate", "ci_low", "ci_high"}`` (optionally ``"n"``),
the shape every results.json uses for a number with a 95% bootstrap interval.
Undefined numbers (None, nan) print as an em dash, never as "nan".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from markupsafe import Markup, escape

DASH = "—"


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite int or float (bool excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 2) -> str:
    """0.8123 -> "0.81"; None / nan -> "—"."""
    return f"{value:.{digits}f}" if is_number(value) else DASH


def count(value: Any) -> str:
    """1234 -> "1,234"; None -> "—"."""
    return f"{int(value):,}" if is_number(value) else DASH


def pct(value: Any, digits: int = 1) -> str:
    """0.8123 -> "81.2%"."""
    return f"{100 * value:.{digits}f}%" if is_number(value) else DASH


def signed(value: Any, digits: int = 2) -> str:
    """A difference with its sign: 0.123 -> "+0.12", -0.001 -> "0.00" (no "-0.00")."""
    if not is_number(value):
        return DASH
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def p_value(value: Any) -> str:
    """McNemar / test p-values: three significant digits, "<0.001" below a thousandth."""
    if not is_number(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def estimate(block: Any) -> float | None:
    """The point estimate of an estimate block (or a bare number), None when undefined."""
    value = block.get("estimate") if isinstance(block, Mapping) else block
    return float(value) if is_number(value) else None


def interval(block: Any) -> tuple[float | None, float | None]:
    """(ci_low, ci_high) of an estimate block, None where undefined."""
    if not isinstance(block, Mapping):
        return None, None
    low, high = block.get("ci_low"), block.get("ci_high")
    return (float(low) if is_number(low) else None, float(high) if is_number(high) else None)


def ci_text(block: Any, digits: int = 2) -> str:
    """Plain text "0.81 [0.74, 0.87]" (the CI part left out when undefined)."""
    point = estimate(block)
    if point is None:
        return DASH
    low, high = interval(block)
    if low is None or high is None:
        return num(point, digits)
    return f"{num(point, digits)} [{num(low, digits)}, {num(high, digits)}]"


def ci(block: Any, digits: int = 2) -> Markup:
    """HTML "0.81 <span class=ci>[0.74, 0.87]</span>": the interval set in a muted style."""
    point = estimate(block)
    if point is None:
        return Markup('<span class="na">—</span>')
    low, high = interval(block)
    text = escape(num(point, digits))
    if low is None or high is None:
        return Markup(text)
    return Markup(f'{text} <span class="ci">[{escape(num(low, digits))}, {escape(num(high, digits))}]</span>')


def sort_key(block: Any) -> str:
    """The ``data-sort`` value of a table cell: the estimate, or "" (sorted last) when undefined."""
    point = estimate(block)
    return "" if point is None else repr(round(point, 6))


def intervals_disjoint(first: Any, second: Any) -> bool:
    """True when both blocks have CIs and the intervals do not overlap (a difference worth highlighting)."""
    low_a, high_a = interval(first)
    low_b, high_b = interval(second)
    if None in (low_a, high_a, low_b, high_b):
        return False
    return bool(high_a < low_b or high_b < low_a)  # type: ignore[operator]


def heat_style(value: Any, low: float = -1.0, high: float = 1.0) -> str:
    """Inline CSS background for a table cell on the report's diverging blue/red scale.

    The midpoint of [low, high] is white; the text stays dark (the scale stops
    at 55% opacity), so no contrast switch is needed.
    """
    if not is_number(value):
        return "background:#f0f0f0"
    middle = (low + high) / 2
    half = (high - low) / 2 or 1.0
    strength = max(-1.0, min(1.0, (float(value) - middle) / half))
    rgb = "33,102,172" if strength >= 0 else "178,24,43"
    return f"background:rgba({rgb},{0.55 * abs(strength):.2f})"


def risk_style(value: Any) -> str:
    """Inline CSS for a rate where any value above 0 is bad (attack false-positive rates): redder as it grows."""
    if not is_number(value) or value <= 0:
        return ""
    return f"background:rgba(178,24,43,{0.12 + 0.5 * min(1.0, float(value)):.2f})"


def flatten_scalars(mapping: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Nested scalars as (dotted key, text) rows for a key/value list ({"sft": {"steps": 5}} -> ("sft.steps", "5")).

    Lists are left out (they belong in tables); top-level keys in ``skip`` too.
    """
    out: list[tuple[str, str]] = []
    if not isinstance(mapping, Mapping):
        return out
    for key, value in mapping.items():
        if not prefix and key in skip:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flatten_scalars(value, name + "."))
        elif not isinstance(value, list):
            out.append((name, DASH if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))))
    return out


def column_chunks(columns: Any, max_size: int = 5) -> list[list[tuple[int, Any]]]:
    """Columns split into as few tables as keep each at most ``max_size`` wide, sizes balanced (7 -> 4 + 3), each
    column with its index: a wide table becomes stacked tables that fit a printed page instead of scrolling."""
    indexed = list(enumerate(columns))
    if not indexed:
        return [[]]
    n_tables = math.ceil(len(indexed) / max(1, max_size))
    size = math.ceil(len(indexed) / n_tables)
    return [indexed[start:start + size] for start in range(0, len(indexed), size)]


def code_spans(text: Any) -> Markup:
    """Plain text with Markdown-style `code` spans as HTML ``<code>`` elements; everything else escaped
    ("`make demo`'s experiment" -> "<code>make demo</code>'s experiment"); an unpaired backtick stays as it is."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: no pairing to trust
        return Markup(escape(str(text)))
    return Markup("").join(Markup("<code>{}</code>").format(part) if index % 2 else escape(part)
                           for index, part in enumerate(parts))


FILTERS = {
    "num": num,
    "count": count,
    "pct": pct,
    "p_value": p_value,
    "signed": signed,
    "ci": ci,
    "ci_text": ci_text,
    "sort_key": sort_key,
    "estimate": estimate,
    "heat_style": heat_style,
    "risk_style": risk_style,
    "column_chunks": column_chunks,
    "code_spans": code_spans,
}
