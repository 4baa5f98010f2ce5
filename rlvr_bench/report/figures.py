"""Matplotlib figures rendered to inline SVG strings for the HTML report.

Every function takes plain numbers (lists, None for "undefined") and returns
an ``<svg>`` element as a string, ready to be placed in the page with
``| safe``. Output is deterministic: the same numbers give byte-identical SVG,
so committed reference reports only change when the results do. Three things
make that true: the Agg/SVG backend with a fixed ``svg.hashsalt`` (element ids
are hashes of the salt and the content), no date/creator metadata, and text
kept as ``<text>`` elements (``svg.fonttype = none``) instead of glyph paths.

Text as text also makes the numbers in a figure searchable and visible in the
DOM, and lets the browser draw them with the page's own (local) fonts: no font
is ever fetched.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any, TypeGuard

import matplotlib as mpl
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

Number = float | int | None

#: one colour per judge / policy / series; colour-blind-safe (Okabe & Ito 2008)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: line styles cycled after the palette, so a ninth series differs from the first
LINE_STYLES = ("-", "--", ":", "-.")
#: diverging map for agreement coefficients in [-1, 1]: red (disagreement) - white (chance) - blue (agreement)
AGREEMENT_CMAP = LinearSegmentedColormap.from_list("agreement", ["#b2182b", "#f7f7f7", "#2166ac"])
#: sequential map for counts and rates in [0, 1]
RATE_CMAP = LinearSegmentedColormap.from_list("rate", ["#f7fbff", "#08519c"])

_STYLE: dict[str, Any] = {
    "svg.hashsalt": "rlvr-bench",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 10.0,
    "axes.titlesize": 11.0,
    "axes.labelsize": 10.0,
    "text.parse_math": False,  # judge and domain names are data: a "$" must print, not start mathtext
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.grid": False,
    "grid.color": "#e5e5e5",
    "legend.frameon": False,
    "legend.fontsize": 8.0,
    "figure.dpi": 72.0,
}

_ID_PATTERN = re.compile(r'id="([^"]+)"')


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _float(value: Number) -> float:
    """A plottable float: None and non-finite values become nan (matplotlib leaves a gap)."""
    return float(value) if _is_number(value) else math.nan


class _FigureIds:
    """Gives every figure of a page its own id prefix, in rendering order (deterministic)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"f{self.count}-"


_ids = _FigureIds()


def reset_figure_ids() -> None:
    """Restart figure numbering; called once per rendered page so every page numbers figures from 1."""
    _ids.count = 0


class FigureSvg(str):
    """An inline ``<svg>`` element (the string) that also carries the figure as files a reader can save on their
    own: a standalone SVG and a PNG, as ``data:`` URIs (the page stays one file and requests nothing)."""

    svg_uri: str
    png_uri: str
    file_stem: str


#: resolution of a figure's PNG download (dots per inch; the page shows the SVG)
PNG_DPI = 150
_PNG_METADATA = {"Software": None}


def _file_stem(title: str) -> str:
    """``Cohen's κ (95% CI)`` -> ``f3-cohen-s-95-ci``: the figure's page id and its title, ASCII only."""
    words = re.findall(r"[a-z0-9]+", title.lower().encode("ascii", "ignore").decode())
    return "-".join([f"f{_ids.count}", *words])[:80]


def _data_uri(mime: str, payload: bytes) -> str:
    import base64

    return f"data:{mime};base64," + base64.b64encode(payload).decode("ascii")


def to_svg(fig: Figure, title: str) -> FigureSvg:
    """Render a figure to an inline ``<svg>`` element.

    The XML prolog, DOCTYPE and metadata are dropped (invalid or useless inside
    HTML); the fixed width/height become a viewBox-scaled figure that shrinks
    with the page; element ids get a per-figure prefix because two figures can
    hold identical clip paths, and duplicate ids in one HTML page are invalid.
    ``title`` becomes the accessible name of the figure.
    """
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None,
                                                                      "Format": None, "Type": None})
    standalone = buffer.getvalue()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches="tight", facecolor="white", metadata=_PNG_METADATA)
    svg = standalone[standalone.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    # matplotlib's per-figure <style> would apply page-wide when inlined; the page CSS carries it once
    svg = re.sub(r"<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>\s*", "", svg)
    prefix = _ids.next()
    svg = _ID_PATTERN.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = svg.replace("url(#", f"url(#{prefix}").replace('xlink:href="#', f'xlink:href="#{prefix}')
    # keep the intrinsic size as max-width so small figures are not blown up on wide screens
    width_match = re.search(r'<svg[^>]*?\swidth="([\d.]+)pt"', svg)
    width = f"{float(width_match.group(1)) * 4 / 3:.0f}px" if width_match else "100%"
    style = f"width:{width};max-width:100%;height:auto"
    svg = re.sub(r'(<svg[^>]*?)\swidth="[\d.]+pt" height="[\d.]+pt"',
                 rf'\1 role="img" aria-label="{_attr(title)}" style="{style}"', svg, count=1)
    figure = FigureSvg(svg.strip())
    figure.file_stem = _file_stem(title)
    figure.svg_uri = _data_uri("image/svg+xml", standalone.encode("utf-8"))
    figure.png_uri = _data_uri("image/png", png.getvalue())
    return figure


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _new_figure(width_in: float, height_in: float) -> Figure:
    # a bare Figure, not pyplot's: no global figure registry to leak or to close
    return Figure(figsize=(width_in, height_in))


def _styled(func: Any) -> Any:
    """Run a figure function under the report's rcParams without touching the global ones."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mpl.rc_context(_STYLE):  # type: ignore[arg-type]  # matplotlib types the keys as literals
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _masked(grid: Sequence[Sequence[float]]) -> Any:
    """A nan-masked array with cell edges at -0.5, 0.5, ... so cell (i, j) is centred on (j, i) as in imshow."""
    import numpy as np

    array = np.ma.masked_invalid(np.asarray(grid, dtype=float))
    rows, cols = array.shape
    return np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, array


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as floats in [0, 1]."""
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(float(c)) for c in rgb[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: Sequence[float], second: Sequence[float]) -> float:
    """WCAG 2 contrast ratio of two opaque sRGB colours (1 to 21)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with ``background``: at least 4.58:1 on any opaque colour, so a
    cell's number and its interval stay readable however saturated the cell is."""
    white = contrast_ratio(background, (1.0, 1.0, 1.0))
    black = contrast_ratio(background, (0.0, 0.0, 0.0))
    return "#ffffff" if white >= black else "#000000"


def _fmt(value: Number, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "—"


def _labels_collide(fig: Figure, labels: Sequence[Any], angle: float, gap_px: float = 3.0) -> bool:
    """Whether neighbouring tick labels drawn at ``angle`` degrees would run into each other: level labels when
    their extents overlap, slanted ones (parallel lines of text) when their perpendicular distance is under a
    line of text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # places the ticks and their labels
    renderer = canvas.get_renderer()
    shown = [label for label in labels if label.get_text()]
    boxes = sorted((label.get_window_extent(renderer) for label in shown), key=lambda b: b.x0)
    if angle == 0:
        return any(right.x0 - left.x1 < gap_px for left, right in itertools.pairwise(boxes))
    anchors = sorted(label.get_window_extent(renderer).x1 for label in shown)
    line_px = max((label.get_fontsize() for label in shown), default=10.0) * fig.dpi / 72.0 * 1.25
    steps = [right - left for left, right in itertools.pairwise(anchors)]
    return bool(steps) and min(steps) * math.sin(math.radians(angle)) < line_px + gap_px


def readable_xticks(fig: Figure, ax: Any) -> None:
    """Rotate the x tick labels only when they would run into each other ("rule-binary-grpomodel-binary-grpo"),
    first by 30 degrees, then upright when 30 is not enough; rotated labels end under their tick."""
    for angle in (0, 30, 90):
        ax.tick_params(axis="x", labelrotation=angle)
        labels = ax.get_xticklabels()
        for label in labels:
            label.set_horizontalalignment("right" if angle == 30 else "center")
            label.set_rotation_mode("anchor" if angle == 30 else "default")
        if not _labels_collide(fig, labels, angle):
            return


@_styled
def heatmap(
    values: Sequence[Sequence[Number]],
    labels: Sequence[str],
    title: str,
    ci_low: Sequence[Sequence[Number]] | None = None,
    ci_high: Sequence[Sequence[Number]] | None = None,
    flags: Sequence[Sequence[bool | None]] | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    col_labels: Sequence[str] | None = None,
    blank_diagonal: bool = False,
) -> str:
    """A square (or rectangular) matrix of coefficients with every cell annotated "0.81 [0.74, 0.87]".

    Undefined cells (None) are grey and read "—". Cells whose ``flags`` entry is
    true get a "⚠" (used for the kappa-paradox flag). With ``blank_diagonal`` the
    diagonal (a judge against itself) is grey and empty. Values are coloured on
    [vmin, vmax] with a diverging map centred on the midpoint.
    """
    rows, cols = len(values), len(values[0]) if values else 0
    col_names = list(col_labels) if col_labels is not None else list(labels)
    cell = 1.25 if ci_low is not None else 0.9
    fig = _new_figure(max(3.2, 1.4 + cell * cols), max(2.2, 0.9 + cell * 0.62 * rows + 0.4))
    ax = fig.add_subplot()
    grid = [[math.nan if blank_diagonal and i == j else _float(v) for j, v in enumerate(row)]
            for i, row in enumerate(values)]
    norm = Normalize(vmin=vmin, vmax=vmax)
    cmap = AGREEMENT_CMAP.with_extremes(bad="#e0e0e0")
    # pcolormesh draws vector cells; imshow would embed a raster PNG as a data: URL
    image = ax.pcolormesh(*_masked(grid), cmap=cmap, norm=norm, edgecolors="white", linewidth=1.5)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    for i in range(rows):
        for j in range(cols):
            if blank_diagonal and i == j:
                continue
            value = values[i][j]
            text = _fmt(value)
            if ci_low is not None and ci_high is not None and _is_number(ci_low[i][j]) and _is_number(ci_high[i][j]):
                text += f"\n[{_fmt(ci_low[i][j])}, {_fmt(ci_high[i][j])}]"
            if flags is not None and flags[i][j]:
                text = "⚠ " + text
            background = cmap(norm(_float(value))) if _is_number(value) else cmap.get_bad()
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if ci_low is not None else 10,
                    color=text_colour_on(tuple(float(c) for c in background)))
    ax.set_xticks(range(cols), labels=col_names)
    ax.set_yticks(range(rows), labels=list(labels))
    readable_xticks(fig, ax)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, loc="left")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.03)
    if colorbar.solids is not None:
        colorbar.solids.set_rasterized(False)  # vector, so no data: image in the page
        colorbar.solids.set_edgecolor("face")  # no hairline seams between the colour steps
    colorbar.outline.set_visible(False)
    return to_svg(fig, title)


@_styled
def confusion_matrices(tables: Sequence[tuple[str, Sequence[Sequence[Number]]]], title: str,
                       truth: str = "gold") -> str:
    """Small multiples of 2x2 confusion matrices, one per judge.

    Each table is ``(judge, [[tp, fp], [fn, tn]])``: rows are the judge's verdict
    (passed, failed), columns the ``truth`` label (correct, incorrect). Cells show the
    count; colour is the count's share of the judge's scored responses.
    """
    n = len(tables)
    per_row = min(n, 4)
    n_rows = math.ceil(n / per_row) if n else 1
    fig = _new_figure(2.1 * per_row + 0.2, 2.0 * n_rows + 0.3)
    for index, (judge, cells) in enumerate(tables):
        ax = fig.add_subplot(n_rows, per_row, index + 1)
        counts = [[_float(v) for v in row] for row in cells]
        total = sum(v for row in counts for v in row if not math.isnan(v)) or 1.0
        shares = [[v / total for v in row] for row in counts]
        ax.pcolormesh(*_masked(shares), cmap=RATE_CMAP, vmin=0.0, vmax=1.0, edgecolors="white", linewidth=1.5)
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(1.5, -0.5)
        for i in range(2):
            for j in range(2):
                share = counts[i][j] / total if not math.isnan(counts[i][j]) else 0.0
                ax.text(j, i, _fmt(cells[i][j], 0) if _is_number(cells[i][j]) else "—", ha="center", va="center",
                        fontsize=10, color=text_colour_on(RATE_CMAP(share)))
        ax.set_xticks([0, 1], labels=[f"{truth} ✓", f"{truth} ✗"])
        ax.set_yticks([0, 1], labels=["pass", "fail"])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(judge, fontsize=9)
    fig.suptitle(title, x=0.02, ha="left", fontsize=10)
    fig.tight_layout()
    return to_svg(fig, title)


@_styled
def grouped_bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number], Sequence[Number] | None, Sequence[Number] | None]],
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    reference_line: float | None = None,
) -> str:
    """Bars per group (x axis) and series (colour), with CI error bars where given.

    ``series`` holds ``(name, estimates, ci_lows, ci_highs)``; one value per group,
    None where undefined (no bar drawn).
    """
    n_series = max(len(series), 1)
    fig = _new_figure(min(11.0, max(4.5, 0.35 * len(groups) * n_series + 1.8)), 3.0)
    ax = fig.add_subplot()
    width = 0.8 / n_series
    for k, (name, estimates, lows, highs) in enumerate(series):
        xs = [g + (k - (n_series - 1) / 2) * width for g in range(len(groups))]
        ys = [_float(v) for v in estimates]
        ax.bar(xs, ys, width=width * 0.92, color=PALETTE[k % len(PALETTE)], label=name)
        if lows is not None and highs is not None:
            below = [y - _float(lo) if _is_number(lo) else math.nan for y, lo in zip(ys, lows, strict=True)]
            above = [_float(hi) - y if _is_number(hi) else math.nan for y, hi in zip(ys, highs, strict=True)]
            ax.errorbar(xs, ys, yerr=[below, above], fmt="none", ecolor="#333333", elinewidth=0.8, capsize=2)
    if reference_line is not None:
        ax.axhline(reference_line, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(groups)), labels=list(groups))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.yaxis.grid(True)
    ax.set_axisbelow(True)
    ax.set_title(title, loc="left")
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    readable_xticks(fig, ax)
    return to_svg(fig, title)


@_styled
def reliability_diagram(
    curves: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[int]]], title: str
) -> str:
    """Calibration: mean soft score (x) against observed fraction correct (y) per bin, one line per judge.

    ``curves`` holds ``(judge, mean_scores, fraction_correct, counts)`` per bin;
    marker area grows with the bin's count. The diagonal is perfect calibration.
    """
    fig = _new_figure(4.2, 3.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#aaaaaa", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    for k, (judge, xs, ys, counts) in enumerate(curves):
        biggest = max(counts, default=1) or 1
        ax.plot(xs, ys, color=PALETTE[k % len(PALETTE)], linewidth=1.2, label=judge)
        ax.scatter(xs, ys, s=[12 + 60 * c / biggest for c in counts], color=PALETTE[k % len(PALETTE)], zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean soft score p(pass) in bin")
    ax.set_ylabel("fraction gold-correct")
    ax.set_aspect("equal")
    ax.grid(True)
    ax.set_title(title, loc="left")
    # beside the axes, never over a line or a marker
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return to_svg(fig, title)


@_styled
def line_chart(
    series: Sequence[tuple[str, Sequence[Number], Sequence[Number]]],
    title: str,
    xlabel: str,
    ylabel: str,
    compact: bool = False,
) -> str:
    """Lines ``(name, xs, ys)`` on shared axes (training curves: reward, KL, length, hacking gap). Series k always
    gets colour and line style k, so the same run reads the same in every chart (an empty series keeps its slot).
    ``compact`` draws a smaller chart with the legend beside it, for a grid of overlaid charts."""
    fig = _new_figure(3.7, 2.4) if compact else _new_figure(4.6, 2.8)
    ax = fig.add_subplot()
    for k, (name, xs, ys) in enumerate(series):
        if not xs:
            continue
        ax.plot([_float(x) for x in xs], [_float(y) for y in ys], color=PALETTE[k % len(PALETTE)], linewidth=1.3,
                linestyle=LINE_STYLES[k // len(PALETTE) % len(LINE_STYLES)],
                label=name, marker="o" if len(xs) <= 12 else None, markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # optimizer steps
    ax.grid(True)
    ax.set_title(title, loc="left")
    readable_xticks(fig, ax)
    if len(series) > 1 and compact:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    elif len(series) > 1:
        ax.legend(fontsize=7)
    return to_svg(fig, title)


@_styled
def shift_chart(
    rows: Sequence[tuple[str, Number, Number]],
    title: str,
    xlabel: str,
    start_label: str = "start",
    end_label: str = "end",
    xlim: tuple[float, float] | None = None,
) -> str:
    """How a quantity moved between two moments, one row per label ``(label, start, end)``: a hollow marker at
    the start, a filled one at the end, joined by a grey line; a dashed line marks 0 (used for the
    reward-hacking gap early and late in training). Horizontal, so long labels stay readable."""
    n = max(len(rows), 1)
    fig = _new_figure(5.2, 0.95 + 0.36 * n)
    ax = fig.add_subplot()
    ax.axvline(0.0, color="#999999", linewidth=0.8, linestyle="--")
    for y, (_, start, end) in enumerate(rows):
        if _is_number(start) and _is_number(end):
            ax.plot([start, end], [y, y], color="#bbbbbb", linewidth=2.0, zorder=1)
    ys = list(range(len(rows)))
    ax.scatter([_float(start) for _, start, _ in rows], ys, facecolors="white", edgecolors=PALETTE[0],
               linewidths=1.5, s=42, zorder=3, label=start_label)
    ax.scatter([_float(end) for _, _, end in rows], ys, color=PALETTE[3], s=26, zorder=4, label=end_label)
    ax.set_yticks(ys, labels=[label for label, _, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # 9 ticks of "−0.075" collide in a chart this wide
    ax.xaxis.grid(True)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    readable_xticks(fig, ax)
    return to_svg(fig, title)
