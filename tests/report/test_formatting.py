"""Number formatting of the report: CIs as "0.81 [0.74, 0.87]", undefined values as a dash."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rlvr_bench.report.formatting import (
    ci,
    ci_text,
    flatten_scalars,
    heat_style,
    intervals_disjoint,
    num,
    p_value,
    pct,
    signed,
    sort_key,
)


@pytest.mark.parametrize(("value", "digits", "expected"), [
    (0.8123, 2, "0.81"),
    (0.815, 3, "0.815"),
    (-0.2, 2, "-0.20"),
    (None, 2, "—"),
    (math.nan, 2, "—"),
    (True, 2, "—"),  # a bool is not a number to print
])
def test_num(value: Any, digits: int, expected: str) -> None:
    assert num(value, digits) == expected


@pytest.mark.parametrize(("block", "expected"), [
    ({"estimate": 0.8123, "ci_low": 0.7391, "ci_high": 0.8702}, "0.81 [0.74, 0.87]"),
    ({"estimate": 0.5, "ci_low": None, "ci_high": None}, "0.50"),  # no CI (e.g. a group below 3 questions)
    ({"estimate": None, "ci_low": 0.1, "ci_high": 0.2}, "—"),
    (0.25, "0.25"),  # a bare number is its own estimate
    (None, "—"),
])
def test_ci_text(block: Any, expected: str) -> None:
    assert ci_text(block) == expected


def test_ci_html_sets_the_interval_apart_and_escapes() -> None:
    html = str(ci({"estimate": 0.81, "ci_low": 0.74, "ci_high": 0.87}))
    assert html == '0.81 <span class="ci">[0.74, 0.87]</span>'
    assert "na" in str(ci(None))


@pytest.mark.parametrize(("value", "expected"), [(0.0004, "<0.001"), (0.0123, "0.012"), (1.0, "1.000"), (None, "—")])
def test_p_value(value: Any, expected: str) -> None:
    assert p_value(value) == expected


def test_pct_and_sort_key() -> None:
    assert pct(0.8123) == "81.2%"
    assert sort_key({"estimate": 0.1234567891}) == "0.123457"
    assert sort_key({"estimate": None}) == ""  # undefined sorts last in the page's JS


@pytest.mark.parametrize(("first", "second", "disjoint"), [
    ({"estimate": 0.3, "ci_low": 0.2, "ci_high": 0.4}, {"estimate": 0.6, "ci_low": 0.5, "ci_high": 0.7}, True),
    # intervals that touch overlap
    ({"estimate": 0.3, "ci_low": 0.2, "ci_high": 0.5}, {"estimate": 0.6, "ci_low": 0.5, "ci_high": 0.7}, False),
    ({"estimate": 0.3, "ci_low": None, "ci_high": None}, {"estimate": 0.9, "ci_low": 0.8, "ci_high": 1.0}, False),
    (0.3, 0.9, False),  # bare numbers have no interval: never called a clear difference
])
def test_intervals_disjoint(first: Any, second: Any, disjoint: bool) -> None:
    assert intervals_disjoint(first, second) is disjoint
    assert intervals_disjoint(second, first) is disjoint


def test_heat_style_is_white_at_the_midpoint_and_saturates() -> None:
    assert heat_style(0.0) == "background:rgba(33,102,172,0.00)"
    assert heat_style(1.0) == "background:rgba(33,102,172,0.55)"
    assert heat_style(-2.0) == "background:rgba(178,24,43,0.55)"  # clipped to the scale
    assert heat_style(0.75, 0.0, 1.0) == "background:rgba(33,102,172,0.28)"  # (0.75 - 0.5) / 0.5 * 0.55 = 0.275
    assert heat_style(None) == "background:#f0f0f0"


def test_flatten_scalars() -> None:
    rows = flatten_scalars({"a": 1, "b": {"c": 0.123456, "d": None}, "e": [1, 2], "skip": 3}, skip=("skip",))
    assert rows == [("a", "1"), ("b.c", "0.1235"), ("b.d", "—")]


@pytest.mark.parametrize(("value", "expected"), [(0.123, "+0.12"), (-0.3, "-0.30"), (-0.001, "0.00"), (None, "—")])
def test_signed(value: Any, expected: str) -> None:
    assert signed(value) == expected


def test_code_spans_become_code_elements_and_the_rest_is_escaped() -> None:
    from rlvr_bench.report.formatting import code_spans

    assert str(code_spans("`make demo`'s <b>run</b>")) == "<code>make demo</code>&#39;s &lt;b&gt;run&lt;/b&gt;"
    assert str(code_spans("a `<i>` b")) == "a <code>&lt;i&gt;</code> b"
    assert str(code_spans("one ` only")) == "one ` only"  # unpaired: left as written


def test_column_chunks_are_balanced_and_keep_indices() -> None:
    from rlvr_bench.report.formatting import column_chunks

    assert column_chunks(list("abcdefg"), 5) == [[(0, "a"), (1, "b"), (2, "c"), (3, "d")],
                                                 [(4, "e"), (5, "f"), (6, "g")]]
    assert column_chunks(["a", "b"], 5) == [[(0, "a"), (1, "b")]]
    assert column_chunks([], 5) == [[]]
