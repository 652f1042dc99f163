"""Reporting: tables, plots, report."""
