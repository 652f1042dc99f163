"""benchmarks/perf/gpu_check.py: without CUDA it says so and exits 0; with the CPU standing in for the GPU
(``--device cpu``) every comparison runs and matches exactly; a device that ranks differently is caught."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "perf" / "gpu_check.py"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **env}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=900)


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_0():
    done = run(CUDA_VISIBLE_DEVICES="")  # torch then sees no GPU, on any machine
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no CUDA device: torch ") and "nothing to compare on this machine" in done.stdout


def test_a_device_that_ranks_differently_is_caught(monkeypatch):
    gpu_check = load_script()
    import recsys_cl.evaluation as evaluation

    real = evaluation.topk_from_factors

    def shifted(*args, device="auto", **kwargs):  # the "target" device returns other scores
        items, scores = real(*args, device="cpu", **kwargs)
        return (items[:, ::-1].copy(), scores + 1e-2) if device == "meta-target" else (items, scores)

    monkeypatch.setattr(evaluation, "topk_from_factors", shifted)
    monkeypatch.setattr(gpu_check, "measure", lambda device, work, fit=None: (work(), {"seconds": 1.0}))
    row = gpu_check.check_topk("meta-target", users=50, items=80)
    assert not row["ok"] and "max score gap 1.00e-02" in row["agreement"]
    same = gpu_check.check_topk("cpu", users=50, items=80)
    assert same["ok"] and same["agreement"].startswith("1.000000 of (user, rank) items equal")
    assert np.isclose(gpu_check._cosines(np.eye(2), np.eye(2)[::-1]), 0).all()


@pytest.mark.slow
def test_with_the_cpu_standing_in_every_comparison_runs_and_matches():
    done = run("--device", "cpu", "--users", "500", "--items", "800", "--texts", "16", "--images", "2", "--models",
               "implicit-als", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    steps = [r["step"].split(" ")[0] for r in figures["rows"]]
    assert steps == ["top-K", "text", "image", "model"] and all(r["ok"] for r in figures["rows"])
    assert "top-10 overlap 1.0000" in figures["rows"][-1]["agreement"]
    assert all(r["cpu"]["seconds"] > 0 and r["target"]["peak_rss_mib"] > 0 for r in figures["rows"])
    assert "4/4 within tolerance" in done.stdout
