"""Reporting: the results folder's records, tables (Markdown/HTML/LaTeX/terminal), plots, the report,
regression tracking against baselines."""

from recsys_cl.reporting._cost import cost_row, write_costs_csv
from recsys_cl.reporting._records import (
    CellCost,
    CellRecord,
    CellSummary,
    DatasetEntry,
    EnergySetup,
    RunRecord,
    StageCost,
    StudySummary,
    TrialRecord,
    read_cell,
    read_run,
    read_study,
    write_cell,
    write_metrics_csv,
    write_run,
    write_study,
)
from recsys_cl.reporting._published import published_table, read_published
from recsys_cl.reporting._regression import compare_to_baseline_file, save_baseline
from recsys_cl.reporting._report import missing_cells_line, write_report
from recsys_cl.reporting._results import Results, load_results
from recsys_cl.reporting._summaries import evaluation_table, regression_table, run_summary_table, splits_table, tuning_table
from recsys_cl.reporting._table import Table
from recsys_cl.reporting._tables import composed_result_table, embed_quality_table

__all__ = [
    "CellCost",
    "CellRecord",
    "CellSummary",
    "DatasetEntry",
    "EnergySetup",
    "Results",
    "RunRecord",
    "StageCost",
    "StudySummary",
    "Table",
    "TrialRecord",
    "compare_to_baseline_file",
    "composed_result_table",
    "cost_row",
    "embed_quality_table",
    "evaluation_table",
    "load_results",
    "missing_cells_line",
    "published_table",
    "read_cell",
    "read_published",
    "read_run",
    "read_study",
    "regression_table",
    "run_summary_table",
    "save_baseline",
    "splits_table",
    "tuning_table",
    "write_cell",
    "write_costs_csv",
    "write_metrics_csv",
    "write_report",
    "write_run",
    "write_study",
]
