"""MLflow tracking against local stores (SQLite, and a file store where MLflow allows one): a run per bench
invocation with a nested run per cell (params, metrics, git commit, artifacts), the report attached,
bad URIs refused before anything runs, a store failing mid-run costing only the logging."""

from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("mlflow", reason="MLflow tracking is the [tracking] extra")

from mlflow import MlflowClient  # noqa: E402

from recsys_cl.bench import load_config, run_benchmark  # noqa: E402
from recsys_cl.bench._provenance import git_commit as _git_commit  # noqa: E402
from recsys_cl.bench._tracking import GIT_COMMIT_TAG, PARENT_TAG, find_report_run, open_tracker  # noqa: E402
from recsys_cl.cli import main  # noqa: E402
from recsys_cl.errors import InputError  # noqa: E402
from recsys_cl.reporting import read_cell, write_report  # noqa: E402

RAW = Path(__file__).parents[1] / "data" / "fixtures" / "hm_raw"
CONFIG = """
name: tracked
datasets:
  - {name: hm, source: hm, raw: %(raw)s}
models:
  - {model: pop}
  - {model: itemknn, params: {neighbours: 5}}
metrics: [ndcg, hr]
ks: [10]
"""


def config_file(folder):
    path = folder / "t.yaml"
    path.write_text(CONFIG % {"raw": RAW})
    return path


def runs_of(client, experiment_id, kind):
    return client.search_runs([experiment_id], filter_string=f"tags.`recsys_cl.kind` = '{kind}'")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    out = tmp / "out"
    with open_tracker(uri, "tracked") as tracker:
        run = run_benchmark(load_config(config_file(tmp)), out, tracker=tracker)
    return uri, out, run, tracker


def test_every_cell_is_a_nested_run_with_params_metrics_commit_and_artifacts(tracked, tmp_path):
    uri, out, run, tracker = tracked
    assert tracker.errors == [] and tracker.cells_logged == 2
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracked")  # one experiment per config name
    assert experiment.artifact_location.startswith(Path(uri.removeprefix("sqlite:///")).parent.as_uri())
    (parent,) = runs_of(client, experiment.experiment_id, "bench")
    assert parent.info.status == "FINISHED" and parent.data.tags[GIT_COMMIT_TAG] == _git_commit() == run.git_commit
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == ["costs.csv", "metrics.csv", "run.json"]
    cells = runs_of(client, experiment.experiment_id, "cell")
    assert len(cells) == 2
    records = {r.key: r for r in (read_cell(out / "cells" / f"{c.key}.json") for c in run.cells)}
    for logged in cells:
        record = records[logged.data.tags["recsys_cl.cell_key"]]
        assert logged.info.status == "FINISHED" and logged.data.tags[PARENT_TAG] == parent.info.run_id
        assert logged.data.tags[GIT_COMMIT_TAG] == run.git_commit
        params = logged.data.params
        assert (params["config"], params["dataset"], params["protocol"], params["seed"]) == ("tracked", "hm", "loo", "0")
        assert (params["model"], params["label"], params["embedding"]) == (record.model, record.label, "none")
        if record.model_name == "itemknn":
            assert params["params.neighbours"] == "5"
        metrics = logged.data.metrics
        assert metrics["ndcg_at_10"] == pytest.approx(record.summary["ndcg@10"])
        assert metrics["hr_at_10"] == pytest.approx(record.summary["hr@10"])
        assert metrics["fit_seconds"] == pytest.approx(record.fit_seconds)
        assert metrics["energy_wh"] == pytest.approx(record.cost.energy_wh)
        assert metrics["fit_peak_rss_mib"] == pytest.approx(record.cost.fit.peak_rss_mib)
        local = client.download_artifacts(logged.info.run_id, f"cell/{record.key}.users.parquet", str(tmp_path))
        stored = pl.read_parquet(out / "cells" / f"{record.key}.users.parquet")
        assert pl.read_parquet(local).equals(stored)


def test_a_rerun_logs_no_cached_cell_again(tracked):
    uri, out, _, _ = tracked
    with open_tracker(uri, "tracked") as tracker:
        again = run_benchmark(load_config(config_file(out.parent)), out, tracker=tracker)
    assert again.cells_run_now == 0 and tracker.cells_logged == 0
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("tracked").experiment_id
    assert len(runs_of(client, experiment_id, "bench")) == 2 and len(runs_of(client, experiment_id, "cell")) == 2


def test_the_report_is_attached_to_the_bench_run_of_its_results_folder(tracked, tmp_path):
    uri, out, _, _ = tracked
    target = find_report_run(uri, "tracked", out)
    target.attach(write_report(out, tmp_path / "report", n_resamples=50))
    files = [a.path for a in target.tracker.client.list_artifacts(target.run_id, "report")]
    assert "report/report.html" in files and "report/report.md" in files
    with pytest.raises(InputError, match="no `bench --mlflow` run of"):
        find_report_run(uri, "tracked", tmp_path)


def test_a_file_store_where_mlflow_allows_it(tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(InputError, match=f"--mlflow {uri}: cannot open .*MLFLOW_ALLOW_FILE_STORE=true"):
        open_tracker(uri, "tracked")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = tmp_path / "out"
    with open_tracker(uri, "tracked") as tracker:
        run_benchmark(load_config(config_file(tmp_path)), out, tracker=tracker)
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("tracked").experiment_id
    assert tracker.cells_logged == 2 and len(runs_of(client, experiment_id, "cell")) == 2


@pytest.mark.parametrize("uri, message", [
    ("http://127.0.0.1:9", "Connection refused|Max retries"),  # nothing listens on the discard port
    ("bogus://store", "unsupported URI"),
])  # fmt: skip
def test_a_store_that_cannot_be_opened_stops_bench_before_it_starts(tmp_path, capsys, uri, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(config_file(tmp_path)), "--out", str(out), "--mlflow", uri])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and not out.exists()
    assert err.startswith(f"recsys-cl: error: --mlflow {uri}: cannot open the MLflow tracking store") and "\n" not in err
    import re

    assert re.search(message, err)


def test_without_mlflow_installed_a_clear_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(InputError, match=r"MLflow is not installed; pip install 'recsys-cl\[tracking\]'"):
        open_tracker("sqlite:///x.db", "t")


def test_a_store_failing_mid_run_costs_the_logging_not_the_benchmark(tracked, tmp_path):
    uri = tracked[0]  # the same database (creating one takes seconds), another experiment
    with open_tracker(uri, "failing") as tracker:
        real = tracker.client.log_batch
        calls = []

        def failing(*args, **kwargs):
            calls.append(args)
            raise ConnectionError("store went away\nsecond line")

        tracker.client.log_batch = failing
        run = run_benchmark(load_config(config_file(tmp_path)), tmp_path / "out", tracker=tracker)
        tracker.client.log_batch = real
    assert run.cells_run_now == 2 and len(list((tmp_path / "out" / "cells").glob("*.json"))) == 2
    assert len(calls) == 1 and tracker.cells_logged == 0  # the second cell did not wait on a failed store
    assert tracker.errors == [f"MLflow {uri}: could not log cell {run.cells[0].key} (store went away); later cells were not logged"]


def test_bench_cli_logs_to_mlflow_with_the_country_given(tracked, tmp_path, capsys, monkeypatch):
    from recsys_cl.bench._cost import COUNTRY_VARIABLE

    monkeypatch.delenv(COUNTRY_VARIABLE, raising=False)  # --country sets it for the run; restored after
    path = config_file(tmp_path)
    path.write_text(path.read_text().replace("name: tracked", "name: from-cli"))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(path), "--out", str(out), "--mlflow", tracked[0], "--country", "deu"])
    assert exit_info.value.code == 0
    assert f"MLflow: 2 cells logged to {tracked[0]} (experiment 'from-cli')" in capsys.readouterr().out
    records = [read_cell(p) for p in (out / "cells").glob("*.json")]
    assert {r.cost.energy.country_iso_code for r in records} == {"DEU"}
    client = MlflowClient(tracked[0])
    assert len(runs_of(client, client.get_experiment_by_name("from-cli").experiment_id, "cell")) == 2


def test_report_cli_attaches_or_refuses_before_writing(tracked, tmp_path, capsys):
    uri, out, _, _ = tracked
    elsewhere = tmp_path / "copy"
    import shutil

    shutil.copytree(out, elsewhere)  # the same results in a folder no bench run logged
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(elsewhere), "--out", str(tmp_path / "r1"), "--mlflow", uri, "--resamples", "50"])
    assert exit_info.value.code == 2 and not (tmp_path / "r1").exists()
    assert "no `bench --mlflow` run of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(out), "--out", str(tmp_path / "r2"), "--mlflow", uri, "--resamples", "50"])
    assert exit_info.value.code == 0 and "MLflow: report attached to run" in capsys.readouterr().out


def test_cells_a_failing_store_missed_are_listed_and_a_command_logs_them_once(tracked, tmp_path, capsys):
    from recsys_cl.bench._tracking import PENDING_FILE, read_pending, unlogged_message

    uri, out = tracked[0], tmp_path / "out"
    with open_tracker(uri, "late") as tracker:
        real = tracker.client.log_batch
        tracker.client.log_batch = lambda *a, **k: (_ for _ in ()).throw(ConnectionError("store went away"))
        run = run_benchmark(load_config(config_file(tmp_path)), out, tracker=tracker)
        tracker.client.log_batch = real
    keys = [c.key for c in run.cells]
    assert tracker.unlogged == keys and read_pending(out)[uri]["cells"] == keys  # both cells kept, neither logged
    message = unlogged_message(tracker, out)
    assert message.startswith(f"MLflow: 2 cells finished and kept in {out} but not logged: hm/loo/")
    assert f"`recsys-cl track {out} --mlflow {uri}`" in message
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("late").experiment_id
    assert [c.info.status for c in runs_of(client, experiment_id, "cell")] == ["RUNNING"]  # half-made by the failure

    with pytest.raises(SystemExit) as exit_info:
        main(["track", str(out), "--mlflow", uri])
    assert exit_info.value.code == 0 and f"MLflow: 2 cells logged to {uri}" in capsys.readouterr().out
    cells = runs_of(client, experiment_id, "cell")
    assert sorted(c.data.tags["recsys_cl.cell_key"] for c in cells) == sorted(keys)  # each once: the half-made run is gone
    assert {c.info.status for c in cells} == {"FINISHED"}
    (parent,) = runs_of(client, experiment_id, "bench")  # nested under the run that missed them, now finished
    assert {c.data.tags[PARENT_TAG] for c in cells} == {parent.info.run_id} and parent.info.status == "FINISHED"
    assert not (out / PENDING_FILE).exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["track", str(out), "--mlflow", uri])
    assert exit_info.value.code == 2 and "no cells wait to be logged" in capsys.readouterr().err


def test_the_next_bench_run_logs_the_cells_an_earlier_one_missed(tracked, tmp_path):
    uri, out = tracked[0], tmp_path / "out"
    with open_tracker(uri, "next") as tracker:
        tracker.client.create_run = lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down"))
        run_benchmark(load_config(config_file(tmp_path)), out, tracker=tracker)
    assert len(tracker.unlogged) == 2
    with open_tracker(uri, "next") as tracker:
        again = run_benchmark(load_config(config_file(tmp_path)), out, tracker=tracker)
    assert again.cells_run_now == 0 and tracker.cells_logged == 2 and tracker.unlogged == []
    client = MlflowClient(uri)
    assert len(runs_of(client, client.get_experiment_by_name("next").experiment_id, "cell")) == 2
