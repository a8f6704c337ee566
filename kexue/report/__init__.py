"""The report: `results.json` of `kexue reproduce` → one self-contained HTML page, and a check of
that page in headless Chromium (`kexue report check`). The names are imported on first use (kexue/lazy.py):
the command line loads `kexue.report.cli` to list the group, and `kexue --help` needs none of them."""
from typing import TYPE_CHECKING

from kexue.lazy import exports

if TYPE_CHECKING:  # the names, for type checkers and editors
    from kexue.report.browser import BrowserError, check_page, find_chromium
    from kexue.report.html import render_report
    from kexue.report.load import ReportError

__all__ = ["render_report", "check_page", "find_chromium", "ReportError", "BrowserError"]
__getattr__, __dir__ = exports(__name__, {"render_report": "html", "check_page": "browser",
                                          "find_chromium": "browser", "ReportError": "load",
                                          "BrowserError": "browser"})
