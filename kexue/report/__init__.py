"""The report: `results.json` of `kexue reproduce` → one self-contained HTML page, and a check of
that page in headless Chromium (`kexue report check`)."""
from kexue.report.browser import BrowserError, check_page, find_chromium
from kexue.report.html import render_report
from kexue.report.load import ReportError

__all__ = ["render_report", "check_page", "find_chromium", "ReportError", "BrowserError"]
