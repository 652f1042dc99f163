"""Benchmark runner, as one flow: YAML config -> plan (datasets, embeddings, studies, cells, each keyed) ->
one executor (here, local worker processes, or Ray) -> artifacts with their records -> the run record."""

from recsys_cl.bench._cell import run_cell
from recsys_cl.bench._config import BenchmarkConfig, load_config, model_space, tuning_with_trials
from recsys_cl.bench._cost import check_energy_settings, set_country
from recsys_cl.bench._folder import check_results_folder, results_lock
from recsys_cl.bench._plan import Cell, Plan, StudyPlan, grid, make_plan, study_plans
from recsys_cl.bench._recommend import FIT_PARTS, FORMATS, recommend_for_config
from recsys_cl.bench._runner import run_benchmark
from recsys_cl.bench._study import tune_model
from recsys_cl.bench._tracking import find_report_run, open_tracker
from recsys_cl.bench._tuning import check_run_options, tune_benchmark

__all__ = [
    "BenchmarkConfig",
    "FIT_PARTS",
    "FORMATS",
    "Cell",
    "Plan",
    "StudyPlan",
    "check_energy_settings",
    "check_results_folder",
    "check_run_options",
    "find_report_run",
    "grid",
    "load_config",
    "make_plan",
    "model_space",
    "open_tracker",
    "recommend_for_config",
    "results_lock",
    "run_benchmark",
    "run_cell",
    "set_country",
    "study_plans",
    "tune_benchmark",
    "tune_model",
    "tuning_with_trials",
]
