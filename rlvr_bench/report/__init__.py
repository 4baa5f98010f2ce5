"""Self-contained HTML reports of run directories (jinja2 templates + matplotlib SVG figures).

    from rlvr_bench.report import render_report, write_run_report
    render_report([Path("runs/a"), Path("runs/b")], Path("compare.html"))   # several runs side by side
    write_run_report(Path("runs/a"))                                          # runs/a/report.html

Sections are chosen by each run's ``results["schema"]``
(see :mod:`rlvr_bench.report.sections`).
"""

from __future__ import annotations

from rlvr_bench.report.render import REPORT_FILE, is_report_file, render_html, render_report, write_run_report

__all__ = ["REPORT_FILE", "is_report_file", "render_html", "render_report", "write_run_report"]
