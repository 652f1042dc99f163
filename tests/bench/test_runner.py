import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from recsys_cl.device import resolve_device
from recsys_cl.bench import load_config, run_benchmark

CONFIG = """
name: t
datasets:
  - {name: ml-100k, source: ml-100k}
protocols: [loo]
models:
  - {model: pop}
  - {model: itemknn}
  - {model: implicit-als, params: {factors: 16, epochs: 5}}
  - {model: implicit-bpr, params: {factors: 16, epochs: %(bpr_epochs)d}}
seeds: [0, 1]
ks: [10, 12]
"""


def config_file(tmp_path, bpr_epochs=20):
    path = tmp_path / "t.yaml"
    path.write_text(CONFIG % {"bpr_epochs": bpr_epochs})
    return path


def done_cells(out):
    return sorted(p.name for p in (out / "cells").glob("*.json"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    out = tmp / "out"
    run = run_benchmark(load_config(config_file(tmp)), out)
    return out, run


def test_results_layout_and_long_metrics(reference):
    out, run = reference
    assert run.cells_run_now == 8 and len(run.cells) == 8
    metrics = pl.read_csv(out / "metrics.csv")
    assert metrics.columns == ["dataset", "protocol", "model", "label", "embedding", "seed", "segment", "metric", "k", "value"]
    ndcg = metrics.filter((pl.col("segment") == "all") & (pl.col("metric") == "ndcg") & (pl.col("k") == 10))
    assert ndcg.height == 8
    by_model = dict(zip(ndcg.filter(pl.col("seed") == 0)["model"], ndcg.filter(pl.col("seed") == 0)["value"]))
    assert by_model["implicit-als(factors=16, epochs=5)"] > by_model["pop"]
    labels = dict(zip(ndcg["model"], ndcg["label"]))  # the full run name beside the short label
    assert {labels["pop"], labels["implicit-als(factors=16, epochs=5)"], labels["itemknn"]} == {"Pop", "ALS", "ItemKNN"}
    segments = set(metrics["segment"])
    assert {"all", "items:cold", "items:warm"} <= segments and any(s.startswith("users:") for s in segments)
    record = json.loads(next((out / "cells").glob("*.json")).read_text())
    assert record["fit_seconds"] >= 0 and record["recommend_seconds"] >= 0
    per_user = pl.read_parquet(out / "cells" / f"{record['key']}.users.parquet")
    assert per_user.filter((pl.col("scope") == "all") & (pl.col("metric") == "ndcg") & (pl.col("k") == 10)).height == 943
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["packages"]["numpy"] and run_json["device"] == resolve_device("auto")


def test_rerun_redoes_nothing_and_a_lost_cell_only(reference, tmp_path):
    out, _ = reference
    config = load_config(config_file(tmp_path))
    again = run_benchmark(config, out)
    assert again.cells_run_now == 0
    victim = sorted((out / "cells").glob("*.json"))[3]
    before = pl.read_csv(out / "metrics.csv")
    victim.unlink()
    third = run_benchmark(config, out)
    assert third.cells_run_now == 1
    assert pl.read_csv(out / "metrics.csv").equals(before)


def test_resume_after_kill_9(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "recsys_cl.cli", "bench", str(config_file(tmp_path)), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(done_cells(out) if (out / "cells").exists() else []) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = done_cells(out)
    assert 2 <= len(finished) < 8, f"kill came too late or too early: {len(finished)} cells done"
    for name in finished:  # every cell marked done is whole
        json.loads((out / "cells" / name).read_text())
        pl.read_parquet(out / "cells" / name.replace(".json", ".users.parquet"))
    resumed = run_benchmark(load_config(config_file(tmp_path)), out)
    assert resumed.cells_run_now == 8 - len(finished)
    assert done_cells(out) == done_cells(ref_out)
    assert pl.read_csv(out / "metrics.csv").equals(pl.read_csv(ref_out / "metrics.csv"))
    assert not list((out / "cells").glob(".*.tmp"))


def test_ray_executor_gives_the_local_numbers(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "ray"
    run = run_benchmark(load_config(config_file(tmp_path)), out, executor="ray")
    assert run.cells_run_now == 8
    assert pl.read_csv(out / "metrics.csv").equals(pl.read_csv(ref_out / "metrics.csv"))


def test_parallel_local_jobs_give_the_sequential_numbers(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "jobs"
    run = run_benchmark(load_config(config_file(tmp_path)), out, jobs=2)
    assert run.cells_run_now == 8
    assert done_cells(out) == done_cells(ref_out)
    assert pl.read_csv(out / "metrics.csv").equals(pl.read_csv(ref_out / "metrics.csv"))


def test_jobs_below_one_is_an_input_error(tmp_path):
    from recsys_cl.errors import InputError

    with pytest.raises(InputError, match="--jobs 0"):
        run_benchmark(load_config(config_file(tmp_path)), tmp_path / "out", jobs=0)


def test_a_cell_whose_model_diverges_is_one_line_naming_the_cell(tmp_path, cli, monkeypatch):
    """NaN scores in a final fit: exit 2 naming the cell and its parameters, not a bare 'NaN scores'."""
    import numpy as np

    from recsys_cl.models._implicit import ImplicitALS

    real_fit = ImplicitALS._fit

    def diverged(self, *args, **kwargs):
        real_fit(self, *args, **kwargs)
        self.user_factors = np.full_like(self.user_factors, np.nan)

    monkeypatch.setattr(ImplicitALS, "_fit", diverged)
    path = tmp_path / "d.yaml"
    path.write_text("name: d\ndatasets:\n  - {name: hs, source: hm-synth, synth: {customers: 30, articles: 20, weeks: 3, seed: 1}}\n"
                    "protocols: [loo]\nmodels:\n  - {model: implicit-als, params: {factors: 4, epochs: 2}}\nseeds: [0]\n")  # fmt: skip
    code, _, err = cli(["bench", str(path), "--out", str(tmp_path / "out")])
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("recsys-cl: error:")]  # the rest are progress lines
    assert "hs/loo/ALS seed 0: the model produced NaN scores" in line and "'factors': 4" in line


def test_run_json_records_the_commit_it_started_at_and_the_one_it_ended_at(tmp_path, monkeypatch):
    """A checkout updated under a long run: ``git_commit`` is where it started, ``git_commit_at_end`` says it moved."""
    import recsys_cl.bench._runner as runner

    commits = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(runner, "git_commit", lambda: next(commits))
    path = tmp_path / "c.yaml"
    path.write_text("name: c\ndatasets:\n  - {name: hs, source: hm-synth, synth: {customers: 30, articles: 20, weeks: 3, seed: 1}}\n"
                    "protocols: [loo]\nmodels:\n  - {model: pop}\nseeds: [0]\n")  # fmt: skip
    run_benchmark(load_config(path), tmp_path / "out")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert (run["git_commit"], run["git_commit_at_end"]) == ("a" * 40, "b" * 40)
    monkeypatch.setattr(runner, "git_commit", lambda: "c" * 40)
    run_benchmark(load_config(path), tmp_path / "same")
    run = json.loads((tmp_path / "same" / "run.json").read_text())
    assert (run["git_commit"], run["git_commit_at_end"]) == ("c" * 40, None)
