"""bench with a tuning section: every variant tuned on the valid part first, then refit with its study's best
parameters and scored on test once per seed; default twins beside them; the report's Tuning section."""

import json
from pathlib import Path

import pytest

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.reporting import load_results, read_study

CONFIG = """
name: tq
datasets:
  - {name: ml-100k, source: ml-100k}
protocols: [loo]
models:
  - {model: pop}
  - {model: implicit-als, params: {factors: 8, epochs: 3}, search: {factors: {type: int, low: 8, high: 32, step: 8}}}
seeds: [0, 1]
ks: [10]
tuning: {trials: 2, pruner: none%(extra)s}
"""


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tq")
    path = tmp / "tq.yaml"
    path.write_text(CONFIG % {"extra": ""})
    out = tmp / "out"
    run = run_benchmark(load_config(path), out)
    return path, out, run


def test_cells_are_refit_with_their_studys_best_parameters_per_seed(tuned_run):
    _, out, run = tuned_run
    results = load_results(out)
    studies = results.studies()
    assert len(studies) == 2 and set(run.studies) == set(studies)  # one study per variant, not per seed
    als = next(s for s in studies.values() if s.model == "implicit-als")
    assert als.trials_completed == 2 and set(als.best_params) == {"factors"}
    # trial 0 is the configured parameters: the search never ends below them on the valid part
    assert als.trials[0].params == {"factors": 8} and als.configured_value == als.trials[0].value
    assert als.best_value >= als.configured_value
    tuned = [c for c in results.cells if c.variant == "ALS"]
    assert [c.seed for c in tuned] == [0, 1]
    assert all(c.study == als.key and c.params == {"factors": als.best_params["factors"], "epochs": 3} for c in tuned)
    # the default twin: the config's own parameters, labelled, not tuned
    default = [c for c in results.cells if c.variant == "ALS [default]"]
    assert [c.seed for c in default] == [0, 1] and all(c.study is None and c.params == {"factors": 8, "epochs": 3} for c in default)
    # Pop has nothing to tune: no default twin
    assert [c.variant for c in results.cells if c.model_name == "pop"] == ["Pop", "Pop"]
    assert read_study(run.studies[als.key]).best_value == als.best_value


def test_a_rerun_reuses_studies_and_cells(tuned_run):
    path, out, _ = tuned_run
    again = run_benchmark(load_config(path), out)
    assert again.cells_run_now == 0
    assert all(s.trials_run_now == 0 for s in load_results(out).studies().values())


def test_report_has_the_tuning_section_with_default_vs_tuned(tuned_run, tmp_path):
    from recsys_cl.reporting import write_report

    _, out, _ = tuned_run
    written = write_report(out, tmp_path / "report", n_resamples=200)
    md = written["markdown"].read_text()
    assert "## Tuning: every model tuned alike on the valid part" in md
    tuning = md.split("## Tuning", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in tuning.splitlines() if line.startswith("| ALS |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "factors 8..32 step 8" and cells[2] == "2/2" and cells[5].startswith("factors=")
    assert cells[4] in ("1/2", "2/2")  # where the best trial was found
    assert float(cells[7]) >= float(cells[6])  # best valid >= default valid
    assert cells[-2] != "–"  # the default twin's test value beside the tuned one, and the difference, tested
    import re

    difference = re.fullmatch(r"([+-]\d\.\d{4})([▲▼]?)", cells[-1])
    assert difference and abs(float(difference.group(1)) - (float(cells[8]) - float(cells[-2]))) <= 0.00011
    assert "'tuned - default': on test" in tuning


def test_refit_on_train_and_valid_changes_the_training_data(tmp_path):
    path = tmp_path / "tq.yaml"
    path.write_text((CONFIG % {"extra": ", refit: train+valid, compare_default: false"}).replace("seeds: [0, 1]", "seeds: [0]"))
    out = tmp_path / "out"
    run_benchmark(load_config(path), out)
    results = load_results(out)
    als = next(c for c in results.cells if c.model_name == "implicit-als")
    record = json.loads((out / "cells" / f"{als.key}.json").read_text())
    assert record["study"] is not None and [c.variant for c in results.cells] == ["Pop", "ALS"]
    # Pop's list under train+valid counts the valid purchases too: not the list of a train-only fit
    from recsys_cl.data import load_dataset

    dataset = load_dataset(out / "data" / "atomic" / "ml-100k")
    merged, plain = dataset.refit_encoded("loo"), dataset.encoded("loo")
    assert merged.train.sum() == plain.train.sum() + plain.valid.sum() and merged.valid.nnz == 0
    assert (merged.test != plain.test).nnz == 0


def test_trials_alone_turns_tuning_on_and_no_tune_with_trials_is_an_error(tmp_path):
    from recsys_cl.errors import InputError

    path = tmp_path / "plain.yaml"  # the same grid without a tuning section
    path.write_text(CONFIG.replace("tuning: {trials: 2, pruner: none%(extra)s}\n", "").replace("seeds: [0, 1]", "seeds: [0]"))
    config = load_config(path)
    assert config.tuning is None
    with pytest.raises(InputError, match=r"^--trials 1: tuning is off \(--no-tune\)"):
        run_benchmark(config, tmp_path / "off", tune=False, trials=1)
    assert not (tmp_path / "off").exists()
    run_benchmark(config, tmp_path / "on", trials=1)
    studies = load_results(tmp_path / "on").studies()
    assert len(studies) == 2 and all(s.trials_completed == 1 for s in studies.values())


def test_a_moved_results_folder_keeps_its_studies_from_any_working_directory(tuned_run, tmp_path, monkeypatch):
    import shutil

    _, out, _ = tuned_run
    moved = shutil.copytree(out, tmp_path / "elsewhere" / "tq-copy")
    monkeypatch.chdir(tmp_path)
    run = json.loads((moved / "run.json").read_text())
    names = {k: Path(v).name for k, v in run["studies"].items()}
    # as `bench --out results/tq-copy` stores them (relative to its working directory), and as an absolute
    # --out stores them, at a place the folder no longer is
    for stored in ("results/tq-copy/tuning/{}", "/gone/away/tq-copy/tuning/{}"):
        run["studies"] = {k: stored.format(name) for k, name in names.items()}
        (moved / "run.json").write_text(json.dumps(run))
        studies = load_results(moved).studies()
        assert {s.model: s.trials_completed for s in studies.values()} == {"pop": 1, "implicit-als": 2}
