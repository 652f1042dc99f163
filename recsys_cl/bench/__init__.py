"""Benchmark runner: configs, grid, executors, results store."""
