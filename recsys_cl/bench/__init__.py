"""Benchmark runner: YAML configs, the grid, local and Ray executors, the results store."""

from recsys_cl.bench._config import BenchmarkConfig, load_config
from recsys_cl.bench._folder import check_results_folder, results_lock
from recsys_cl.bench._grid import Cell, grid
from recsys_cl.bench._runner import run_benchmark, run_cell

__all__ = ["BenchmarkConfig", "Cell", "check_results_folder", "grid", "load_config", "results_lock", "run_benchmark", "run_cell"]
