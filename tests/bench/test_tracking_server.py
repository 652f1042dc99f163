"""MLflow against a real tracking server that the test starts (``mlflow server`` on 127.0.0.1): ``bench --mlflow
http://...`` logs every cell; a server that stops mid-run costs no cell (all finish and are kept), the run names
the cells it could not log, and ``recsys-cl track`` logs them once the server is back."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="MLflow tracking is the [tracking] extra")

from mlflow import MlflowClient  # noqa: E402
from servers import MlflowServer, Unavailable  # noqa: E402

from recsys_cl.bench import load_config, run_benchmark  # noqa: E402
from recsys_cl.bench._tracking import PARENT_TAG, PENDING_FILE, open_tracker  # noqa: E402

RAW = Path(__file__).parents[1] / "data" / "fixtures" / "hm_raw"
CONFIG = """
name: %(name)s
datasets:
  - {name: hm, source: hm, raw: %(raw)s}
models:
  - {model: pop}
  - {model: random}
  - {model: itemknn, params: {neighbours: 5}}
metrics: [ndcg, hr]
ks: [10]
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        running = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    except Unavailable as exc:
        pytest.skip(f"no MLflow tracking server can start here: {exc}")
    yield running
    running.stop()


def config_file(folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(CONFIG % {"raw": RAW, "name": name})
    return path


def cell_runs(client, experiment):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], filter_string="tags.`recsys_cl.kind` = 'cell'")


def test_bench_logs_every_cell_to_the_server(server, tmp_path, cli):
    out = tmp_path / "out"
    code, stdout, _ = cli(["bench", str(config_file(tmp_path, "served")), "--out", str(out), "--mlflow", server.uri])
    assert code == 0 and f"MLflow: 3 cells logged to {server.uri} (experiment 'served')" in stdout
    runs = cell_runs(MlflowClient(server.uri), "served")
    assert sorted(r.data.tags["recsys_cl.cell_key"] for r in runs) == sorted(p.stem for p in (out / "cells").glob("*.json"))
    assert {r.info.status for r in runs} == {"FINISHED"}
    artifacts = MlflowClient(server.uri).list_artifacts(runs[0].info.run_id, "cell")
    assert len(artifacts) == 2  # the record and its per-user scores went through the server's artifact proxy


def test_a_server_stopping_mid_run_costs_no_cell_and_track_logs_the_rest(server, tmp_path, cli):
    out = tmp_path / "out"
    stopped = []

    def stop_after_first(cell, index, total, status):  # runs after the tracker logged the cell
        if status == "done" and not stopped:
            server.stop()
            stopped.append(index)

    with open_tracker(server.uri, "interrupted") as tracker:
        run = run_benchmark(load_config(config_file(tmp_path, "interrupted")), out, tracker=tracker, on_cell=stop_after_first)
    try:
        assert run.cells_run_now == 3 and len(list((out / "cells").glob("*.json"))) == 3  # every cell finished and kept
        assert tracker.cells_logged == 1 and len(tracker.unlogged) == 2 and tracker.errors
        assert (out / PENDING_FILE).is_file()
    finally:
        server.start()  # the same port and store, as after a restart
    code, stdout, err = cli(["track", str(out), "--mlflow", server.uri])
    assert code == 0 and f"MLflow: 2 cells logged to {server.uri}" in stdout, err
    client = MlflowClient(server.uri)
    runs = cell_runs(client, "interrupted")
    assert sorted(r.data.tags["recsys_cl.cell_key"] for r in runs) == sorted(c.key for c in run.cells)  # each cell once
    assert {r.info.status for r in runs} == {"FINISHED"} and len({r.data.tags[PARENT_TAG] for r in runs}) == 1
    assert not (out / PENDING_FILE).exists()
