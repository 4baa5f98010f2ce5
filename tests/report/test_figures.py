"""Figures are inline SVG: deterministic, vector only, ids unique per page, text kept as text."""

from __future__ import annotations

import re

from rlvr_bench.report import figures

KAPPA = [[1.0, 0.81, None], [0.81, 1.0, -0.2], [None, -0.2, 1.0]]
LOW = [[1.0, 0.74, None], [0.74, 1.0, -0.5], [None, -0.5, 1.0]]
HIGH = [[1.0, 0.87, None], [0.87, 1.0, 0.1], [None, 0.1, 1.0]]
NAMES = ["exact", "contains", "numeric"]


def _heatmap() -> str:
    return figures.heatmap(KAPPA, NAMES, "Cohen's κ", ci_low=LOW, ci_high=HIGH,
                           flags=[[False, True, False], [True, False, False], [False, False, False]],
                           blank_diagonal=True)


def test_heatmap_is_an_inline_svg_with_annotated_cells() -> None:
    figures.reset_figure_ids()
    svg = _heatmap()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
    # text stays text, so the numbers are in the DOM: the flagged pair carries the paradox mark
    assert "⚠ 0.81" in svg and "[0.74, 0.87]" in svg
    assert "—" in svg  # the undefined pair
    assert 'aria-label="Cohen\'s κ"' in svg or "aria-label=\"Cohen's κ\"" in svg


def test_same_numbers_give_the_same_bytes() -> None:
    figures.reset_figure_ids()
    first = _heatmap()
    figures.reset_figure_ids()
    assert _heatmap() == first


def test_ids_are_unique_across_figures_of_a_page() -> None:
    figures.reset_figure_ids()
    page = _heatmap() + _heatmap()
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    # every internal reference points at an id of the page
    for ref in re.findall(r'url\(#([^)]+)\)', page):
        assert ref in ids


def test_no_raster_image_and_no_external_reference() -> None:
    figures.reset_figure_ids()
    svgs = [
        _heatmap(),
        figures.confusion_matrices([("exact", [[10, 2], [3, 20]]), ("contains", [[12, None], [1, 17]])], "Confusion"),
        figures.grouped_bars(["medicine", "chemistry"], [("exact", [0.5, None], [0.4, None], [0.6, None])],
                             "Accuracy", "accuracy"),
        figures.reliability_diagram([("embed", [0.1, 0.9], [0.2, 0.8], [3, 10])], "Calibration"),
        figures.line_chart([("reward", [1, 2, 3], [0.1, None, 0.5])], "Reward", "step", "reward"),
    ]
    for svg in svgs:
        assert "<image" not in svg
        assert "<style" not in svg  # matplotlib's page-wide style is dropped; the page CSS carries it
        hrefs = re.findall(r'(?:href|src)="([^"#][^"]*)"', svg)
        assert hrefs == [], hrefs


def test_labels_are_data_not_markup_or_mathtext() -> None:
    # a "$" would start mathtext and "<" must not open an element
    svg = figures.grouped_bars(["$x$ <b>", "ok"], [("judge $1", [0.2, 0.4], None, None)], "t & <t>", "y")
    assert "$x$ &lt;b&gt;" in svg
    assert "<b>" not in svg
