"""The report in a real headless Chromium: loads with no console error and no network request, figures and
tables are in the DOM, markup from responses is inert text, the disagreement filters and table sorting work.

Chromium is Debian's ``chromium`` (``make browser`` installs it), driven by playwright's Python package
with ``executable_path`` so no browser is downloaded. Without either the test is skipped locally and
fails under CI (``CI=true``), so a CI machine can never pass it silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import BOLD_TEXT, SCRIPT_TEXT

from rlvr_bench.report import render_report

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: where screenshots go (the CI log keeps the path); a temp folder when unset
SCREENSHOT_DIR_ENV = "RLVR_BENCH_SCREENSHOTS"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = None
    if path is None:
        reason = "chromium is not installed (make browser)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright (Python package) is not installed"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        # a persistent context is the way to give a fresh --user-data-dir
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        try:
            yield context
        finally:
            context.close()


class PageLog:
    """Everything a page did that the test must see: console messages, page errors, requests, dialogs."""

    def __init__(self, page: Any) -> None:
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda message: self.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _open(browser: Any, html_file: Path) -> tuple[Any, PageLog]:
    page = browser.new_page()
    log = PageLog(page)
    # every request is recorded, and any that is not the report itself is refused
    page.route("**/*", lambda route: route.continue_() if route.request.url == html_file.as_uri() else route.abort())
    page.goto(html_file.as_uri(), wait_until="load")
    return page, log


def _screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_DIR_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_report_loads_clean_offline_with_figures_and_tables(browser: Any, all_runs_html: Path, tmp_path: Path) -> None:
    html_file = all_runs_html
    page, log = _open(browser, html_file)

    assert log.errors == []
    assert [m for m in log.console if m[0] in ("error", "warning")] == []
    assert log.requests == [html_file.as_uri()]  # the document itself and nothing else
    assert log.dialogs == []  # alert(1) from a response never ran

    shot = _screenshot_dir(tmp_path) / "report-all-runs.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # key figures: kappa and AC1 heatmaps (agreement + eval's judge agreement), confusion matrices,
    # reliability diagram, attack chart, training curves, train-and-eval's accuracy and hacking-gap charts
    labels = page.eval_on_selector_all("svg[role=img]", "nodes => nodes.map(n => n.getAttribute('aria-label'))")
    for expected in ("Cohen's κ (95% CI)", "Gwet's AC1 (95% CI)", "Reliability diagram",
                     "Master-key false-positive rate", "Reward", "Confusion matrices",
                     "Held-out accuracy per method", "Reward-hacking gap"):
        assert any(label.startswith(expected) for label in labels), (expected, labels)
    assert sum(label.startswith("Cohen's κ") for label in labels) == 2
    for table_id in ("r1-agreement-pair-table", "r2-accuracy-metric-table", "r2-calibration-table",
                     "r3-policy-table1", "r3-policy-comparison-table", "r4-before-after-table",
                     "r1-disagreements-table", "r5-train-and-eval-table1", "r5-train-and-eval-hacking-table"):
        assert page.locator(f"#{table_id} tbody tr").count() > 0, table_id
    # the toc stays on screen while scrolling
    assert page.eval_on_selector("nav.toc", "n => getComputedStyle(n).position") == "sticky"


def test_response_markup_shows_as_text(browser: Any, fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    html_file = render_report([fixture_runs["agreement"]], tmp_path / "agreement.html")
    page, log = _open(browser, html_file)
    assert log.dialogs == [] and log.errors == []
    table = page.locator("#disagreements-table")
    text = table.inner_text()
    assert SCRIPT_TEXT in text and BOLD_TEXT in text  # visible verbatim, angle brackets and all
    assert table.locator("script").count() == 0 and table.locator("b").count() == 0
    assert page.locator("script").count() == 1  # only the page's own


def test_disagreement_filters_and_sorting(browser: Any, fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    html_file = render_report([fixture_runs["agreement"]], tmp_path / "agreement.html")
    page, _ = _open(browser, html_file)
    rows = page.locator("#disagreements-table tbody tr")
    total = rows.count()
    visible = "#disagreements-table tbody tr:not([hidden])"
    assert total > 2

    page.select_option("[data-browser] select[name=domain]", "chemistry")
    domains = page.eval_on_selector_all(visible, "rows => rows.map(r => r.dataset.domain)")
    assert domains and set(domains) == {"chemistry"}
    assert 0 < len(domains) < total
    assert page.inner_text("[data-browser] .shown-count") == str(len(domains))

    page.select_option("[data-browser] select[name=domain]", "")
    page.select_option("[data-browser] select[name=pair]", label="exact ~ contains")
    pairs = page.eval_on_selector_all(visible, "rows => rows.map(r => r.dataset.pairs.split(' '))")
    assert pairs and all("0" in p for p in pairs)  # pair 0 = exact ~ contains split on every shown row

    page.select_option("[data-browser] select[name=pair]", "")
    page.fill("[data-browser] input[name=text]", "alert(1)")
    assert page.locator(visible).count() == 1

    # sorting: click "n" in the pair table twice -> ascending then descending by shared responses
    header = page.locator("#agreement-pair-table thead th", has_text="n").first
    header.click()
    values = page.eval_on_selector_all("#agreement-pair-table tbody tr",
                                       "rows => rows.map(r => Number(r.cells[1].dataset.sort))")
    assert values == sorted(values)
    header.click()
    values = page.eval_on_selector_all("#agreement-pair-table tbody tr",
                                       "rows => rows.map(r => Number(r.cells[1].dataset.sort))")
    assert values == sorted(values, reverse=True)


# ---------------------------------------------------------------- layout and legibility

#: the printable width of an A4 page with the page's 12 mm margins, in CSS px (186 mm at 96 px per inch)
PRINT_WIDTH_PX = 703
#: WCAG 2 AA contrast for body text
MIN_CONTRAST = 4.5
REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"
#: committed reference reports with real data (6 judges, 12 domains, 300 disagreements, a trained matrix)
REFERENCE_PAGES = ("agreement-verifier-gold/report.html", "verify-verifier-gold/report.html",
                   "train-and-eval-mini-demo/report.html", "train-and-eval-smol-matrix/report.html",
                   "compare-agreement-starter-vs-verifier-gold.html")

#: every table wider than the box it sits in (the box would scroll sideways), and the page's own overflow
TABLE_OVERFLOW_JS = """() => {
  const main = document.querySelector('main').getBoundingClientRect();
  const wide = [];
  for (const table of document.querySelectorAll('main table')) {
    if (!table.getClientRects().length) { continue; }  // inside a closed <details>
    const box = table.closest('.table-wrap') || table.parentElement;
    const right = table.getBoundingClientRect().right;
    if (box.scrollWidth > box.clientWidth + 1 || right > main.right + 1) {
      wide.push({id: table.id, table: table.scrollWidth, box: box.clientWidth});
    }
  }
  return {wide, page: document.documentElement.scrollWidth, viewport: window.innerWidth,
          tables: document.querySelectorAll('main table').length};
}"""

#: WCAG contrast of every visible text node of the page (outside figures) against its composited background
TEXT_CONTRAST_JS = """(min) => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) { return null; }
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, below) => [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) { bg = over(layers[i], bg); }
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const low = []; let checked = 0, ci = 0, heat = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.nodeValue.trim() || !el || el.closest('svg, script, style, select')) { continue; }
    if (!el.checkVisibility() || !el.getClientRects().length) { continue; }
    const bg = background(el);
    const style = getComputedStyle(el);
    const k = ratio(over(parse(style.color), bg), bg);
    checked += 1;
    if (el.closest('.ci')) { ci += 1; }
    if (el.closest('td.heat')) { heat += 1; }
    if (k < min) {
      low.push({text: node.nodeValue.trim().slice(0, 30), ratio: Math.round(k * 100) / 100,
                element: el.tagName + '.' + el.className, color: style.color, background: bg.join(',')});
    }
  }
  return {checked, ci, heat, low};
}"""

#: WCAG contrast of every text of the figures against the filled shape under its centre (a heat-map cell), or the
#: page when none; and x tick labels that run into each other; and legends drawn over their axes
FIGURE_TEXT_JS = """(min) => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/);
    return m ? m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number) : null; };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const shapes = 'path, rect, use, polygon, circle, ellipse';
  const low = []; const collisions = []; const legends = []; let checked = 0, onCells = 0;
  for (const svg of document.querySelectorAll('figure svg[role=img]')) {
    if (!svg.getClientRects().length) { continue; }
    const title = svg.getAttribute('aria-label');
    for (const text of svg.querySelectorAll('text')) {
      text.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});  // not the page's smooth scroll
      const box = text.getBoundingClientRect();
      if (!box.width) { continue; }
      const hits = document.elementsFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      let bg = [255, 255, 255];
      for (const hit of hits) {
        if (hit === text || !svg.contains(hit) || !hit.matches(shapes)) { continue; }
        const style = getComputedStyle(hit);
        const fill = parse(style.fill);
        if (fill && style.fill !== 'none' && Number(style.fillOpacity) > 0 && (fill.length < 4 || fill[3] > 0)) {
          bg = fill; if (hit.closest('[id*="QuadMesh"], [id*="quadmesh"]')) { onCells += 1; } break;
        }
      }
      const fg = parse(getComputedStyle(text).fill) || [0, 0, 0];
      const k = ratio(fg, bg);
      checked += 1;
      if (k < min) {
        low.push({figure: title, text: text.textContent.slice(0, 30), ratio: Math.round(k * 100) / 100});
      }
    }
    // x tick labels: level ones must not overlap; slanted ones (parallel lines) need a line of text between them
    for (const axis of svg.querySelectorAll('g[id*="-matplotlib.axis_"]')) {
    const ticks = Array.from(axis.querySelectorAll('g[id*="-xtick_"] text')).filter(t => t.textContent.trim());
    const placed = ticks.map(t => {
      const m = (t.getAttribute('transform') || '').match(/rotate\\((-?[\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\)/);
      const angle = m ? Math.abs(Number(m[1])) % 180 : 0;
      return {t, angle, x: m ? Number(m[2]) : 0, box: t.getBoundingClientRect(),
              size: parseFloat(getComputedStyle(t).fontSize)};
    }).sort((a, b) => a.box.left - b.box.left);
    for (let i = 1; i < placed.length; i++) {
      const a = placed[i - 1], b = placed[i];
      const clash = a.angle === 0 ? b.box.left < a.box.right - 0.5
        : Math.abs(b.x - a.x) * Math.sin(a.angle * Math.PI / 180) < a.size;
      if (clash) { collisions.push({figure: title, labels: [a.t.textContent, b.t.textContent]}); }
    }
    }
    // a legend beside its axes, never over the plotted lines
    const legend = svg.querySelector('g[id$="-legend_1"]');
    const axes = svg.querySelector('g[id$="-axes_1"] > g[id$="-patch_2"]');
    if (legend && axes) {
      const l = legend.getBoundingClientRect(), a = axes.getBoundingClientRect();
      if (l.left < a.right - 1 && l.right > a.left + 1 && l.top < a.bottom - 1 && l.bottom > a.top + 1
          && title.startsWith('Reliability')) { legends.push(title); }
    }
  }
  return {checked, onCells, low, collisions, legends};
}"""


def _layout_report(page: Any) -> dict[str, Any]:
    """Tables on screen at 1,400 px and in print at A4 width, and the contrast of text and figure text."""
    screen = page.evaluate(TABLE_OVERFLOW_JS)
    text = page.evaluate(TEXT_CONTRAST_JS, MIN_CONTRAST)
    figure_text = page.evaluate(FIGURE_TEXT_JS, MIN_CONTRAST)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": PRINT_WIDTH_PX, "height": 1000})
    printed = page.evaluate(TABLE_OVERFLOW_JS)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1400, "height": 900})
    return {"screen": screen, "print": printed, "text": text, "figures": figure_text}


def _assert_legible(report: dict[str, Any]) -> None:
    for medium in ("screen", "print"):
        tables = report[medium]
        assert tables["tables"] > 0
        assert tables["wide"] == [], (medium, tables["wide"])  # no table scrolls sideways
        assert tables["page"] <= tables["viewport"], (medium, tables["page"])
    text = report["text"]
    assert text["checked"] > 100 and text["ci"] > 0, text  # the check saw the page, intervals included
    assert text["low"] == [], text["low"][:10]
    figure_text = report["figures"]
    assert figure_text["checked"] > 0, figure_text
    assert figure_text["low"] == [], figure_text["low"][:10]
    assert figure_text["collisions"] == [], figure_text["collisions"]
    assert figure_text["legends"] == [], figure_text["legends"]


def test_tables_fit_and_every_text_is_legible(browser: Any, all_runs_html: Path, tmp_path: Path) -> None:
    """Every table of a report of every kind fits its column at 1,400 px and at A4 print width (no sideways
    scroll); every text, the intervals and the numbers on heat-map cells included, has contrast >= 4.5:1."""
    page, _ = _open(browser, all_runs_html)
    report = _layout_report(page)
    _assert_legible(report)
    assert report["text"]["heat"] > 0  # heat-table cells were measured
    assert report["figures"]["onCells"] > 0  # and numbers drawn on heat-map cells
    page.emulate_media(media="print")
    page.set_viewport_size({"width": PRINT_WIDTH_PX, "height": 1000})
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "report-all-runs-print.png"), full_page=True)


@pytest.mark.parametrize("name", REFERENCE_PAGES)
def test_reference_reports_fit_and_are_legible(browser: Any, name: str, tmp_path: Path) -> None:
    """The same on the committed reference reports: real data, many judges and domains, 300 disagreements."""
    html_file = REPORTS_DIR / name
    if not html_file.is_file():
        pytest.skip("no committed reports/ (installed package)")
    page, log = _open(browser, html_file)
    assert log.errors == []
    _assert_legible(_layout_report(page))
    if page.locator("table.browser").count():
        # the disagreement browser gives the question room: no 70 px column breaking words
        width = page.eval_on_selector("table.browser thead th:nth-child(2)", "th => th.getBoundingClientRect().width")
        assert width >= 250, width
