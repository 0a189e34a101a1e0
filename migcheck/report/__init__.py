"""Design verification reports: variants side by side, counterexamples as sequence charts.

``migcheck report`` calls `build_report` (check, chart, replay, draw) and `write_report`
(report.html, report.md, report.json in one folder, each written atomically).
"""

from .contents import Report, Violation, build_report
from .document import FILES, report_json, write_report
from .html import report_html
from .markdown import report_markdown

__all__ = ["FILES", "Report", "Violation", "build_report", "report_html", "report_json",
           "report_markdown", "write_report"]
