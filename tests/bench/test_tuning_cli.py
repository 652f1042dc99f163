"""``recsys-cl tune CONFIG``: a progress line per study, a final table, resumable; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json

import pytest


CONFIG = """
name: t
datasets:
  - {name: ml-100k, source: ml-100k}
models:
  - {model: pop}
  - {model: itemknn, search: {neighbours: {type: int, low: 5, high: 50, step: 5}}}
  - {model: implicit-als, params: {factors: 8, epochs: 5}, search: {reg: {type: log_float, low: 0.001, high: 10}}}
tuning: {trials: 3, seed: 2}
"""


def write(tmp_path, text=CONFIG):
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


def test_tune_runs_every_study_and_resumes(tmp_path, cli):
    out = tmp_path / "out"
    code, stdout, stderr = cli(["tune", str(write(tmp_path)), "--out", str(out)])
    assert code == 0, stderr
    assert "3 studies (7 trials run now)" in stdout and "best ndcg@10" in stdout and "neighbours=" in stdout
    for label in ("ml-100k/loo/Pop", "ml-100k/loo/ItemKNN", "ml-100k/loo/ALS"):
        assert label in stderr
    assert "trial 3/3, best ndcg@10 0." in stderr and "trial 1/1" in stderr
    index = json.loads((out / "tuning" / "summaries.json").read_text())
    studies = {s["model"]: s for s in index["studies"]}
    assert index["tuning"]["trials"] == 3 and studies["itemknn"]["trials_completed"] == 3
    assert studies["implicit-als"]["refit_params"]["factors"] == 8
    for s in index["studies"]:
        assert json.loads((out / "tuning" / f"{s['key']}.json").read_text())["best_value"] == s["best_value"]

    code, stdout, _ = cli(["tune", str(write(tmp_path)), "--out", str(out), "--trials", "4"])
    assert code == 0 and "3 studies (2 trials run now)" in stdout  # pop has nothing to tune: still one trial
    again = {s["model"]: s for s in json.loads((out / "tuning" / "summaries.json").read_text())["studies"]}
    assert again["itemknn"]["trials"][:3] == studies["itemknn"]["trials"]


@pytest.mark.parametrize(
    ("argv", "config", "message"),
    [
        (["--trials", "0"], CONFIG, "--trials 0: must be at least 1"),
        (["--storage", "sqlite:////no/such/dir/t.db"], CONFIG, "--storage sqlite:////no/such/dir/t.db: cannot open"),
        (["--executor", "spark"], CONFIG, "--executor 'spark': choose local or ray"),
        ([], CONFIG.replace("step: 5}", "step: 5}, shrinkage: {type: float, low: 0, high: 1}"),
         "models.1.search.shrinkage: itemknn has no parameter 'shrinkage'"),
        ([], CONFIG.replace("seed: 2}", "seed: 2, metric: ndcg@20}"), "tuning.metric: ndcg@20 is not reported"),
        ([], CONFIG.replace("low: 5, high: 50", "low: 50, high: 5"), "models.1.search.neighbours: low: 50 is above high 5"),
        ([], CONFIG.replace("seed: 2}", "seed: 2, metric: ndcg@0}"), "tuning.metric: 'ndcg@0' is not computed"),
        ([], CONFIG.replace("trials: 3", "trials: -1"), "tuning.trials: Input should be greater than or equal to 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, argv, config, message, cli):
    out = tmp_path / "out"
    code, _, stderr = cli(["tune", str(write(tmp_path, config)), "--out", str(out), *argv])
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()
