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
