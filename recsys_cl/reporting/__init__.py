"""Reporting: tables (Markdown/HTML/LaTeX), plots, the report, regression tracking against baselines."""

from recsys_cl.reporting._report import write_report
from recsys_cl.reporting._results import Results, load_results

__all__ = ["Results", "load_results", "write_report"]
