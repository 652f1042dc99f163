"""A real multi-node Ray cluster on one machine (Ray's own test cluster: a head and a worker node on 127.0.0.1,
one CPU each, token authentication on), driven as users drive it (``recsys-cl bench --executor ray
--ray-address``): the token is required and named; folders a node cannot see stop the run before any work;
a grid and a tuning run give metrics and trials identical to ``--executor local``; each cell records its node;
a worker node killed mid-run costs nothing but time."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from servers import RayCluster, Unavailable

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.reporting import read_cell, read_study

CONFIG = """
name: cluster
datasets:
  - {name: shop, source: hm-synth, synth: {customers: 300, articles: 150, weeks: 6, images: false}}
protocols: [loo]
models:
  - {model: pop}
  - {model: itemknn}
  - {model: implicit-als, params: {epochs: 10}}
tuning: {trials: 4, seed: 0}
seeds: [0, 1]
metrics: [ndcg, hr]
ks: [10]
"""


# two studies long enough to be caught mid-trial on both nodes at once
LONG_STUDIES = CONFIG.replace("""  - {model: pop}
  - {model: itemknn}
  - {model: implicit-als, params: {epochs: 10}}
tuning: {trials: 4, seed: 0}
seeds: [0, 1]""", """  - {model: implicit-als, params: {factors: 32}, search: {reg: {type: log_float, low: 0.001, high: 1.0},
                                                         epochs: {type: int, low: 60, high: 120}}}
  - {model: implicit-als, label: ALS-b, params: {factors: 48}, search: {reg: {type: log_float, low: 0.001, high: 1.0},
                                                                     epochs: {type: int, low: 60, high: 120}}}
tuning: {trials: 6, seed: 0, pruner: none}
seeds: [0]""")


def config_file(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "cluster.yaml"
    path.write_text(text)
    return path


def test_a_local_run_records_the_node_of_each_cell(tmp_path):
    config = load_config(config_file(tmp_path, CONFIG.replace("  - {model: itemknn}\n", "").replace(
        "  - {model: implicit-als, params: {epochs: 10}}\n", "").replace("tuning: {trials: 4, seed: 0}\n", "")))  # fmt: skip
    run = run_benchmark(config, tmp_path / "out")
    records = [read_cell(tmp_path / "out" / "cells" / f"{c.key}.json") for c in run.cells]
    assert records and {r.node for r in records} == {socket.gethostname()}


# ---------------------------------------------------------------------------------------------- the cluster
@pytest.fixture(scope="module")
def cluster():
    try:
        running = RayCluster(workers=1).start()
    except Unavailable as exc:
        pytest.skip(f"no Ray test cluster can start here: {exc}")
    yield running
    running.stop()


def bench(cluster: RayCluster, *args: str, token: bool = True, timeout: float = 1200, prefix: tuple[str, ...] = ()):
    """``recsys-cl bench ARGS`` in a new process, as a user on a machine of the cluster runs it."""
    env = {**os.environ, **cluster.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    if not token:
        env["RAY_AUTH_TOKEN_PATH"] = str(cluster.folder / "no-such-token")
    argv = [*prefix, sys.executable, "-m", "recsys_cl.cli", "bench", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def metrics(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "metrics.csv").sort(pl.all())


def trials(out: Path, numbered: bool = True) -> list:
    """Each study's counted trials in order: (number,) state, value, parameters."""
    studies = [read_study(p) for p in sorted((out / "tuning").glob("*.json")) if p.name != "summaries.json"]
    return sorted((s.study_name, [((t.number,) if numbered else ()) + (t.state, t.value, t.params) for t in s.trials
                                  if t.counted]) for s in studies)  # fmt: skip


@pytest.mark.slow
def test_a_driver_without_the_clusters_token_is_one_line(cluster, tmp_path):
    done = bench(cluster, str(config_file(tmp_path)), "--out", str(tmp_path / "out"), "--executor", "ray",
                 "--ray-address", cluster.address, "--no-tune", token=False, timeout=300)  # fmt: skip
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert err[-1].startswith(f"recsys-cl: error: --ray-address {cluster.address}: the cluster refused this driver's "
                              "authentication token; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH")  # fmt: skip
    assert not (tmp_path / "out" / "cells").exists() or not any((tmp_path / "out" / "cells").iterdir())


@pytest.mark.slow
def test_a_folder_a_node_cannot_see_stops_the_run_before_any_work(cluster, tmp_path):
    private = tmp_path / "private"  # a tmpfs only the driver's mount namespace has: the nodes see an empty folder
    private.mkdir()
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot make a folder only the driver sees (unshare -m needs util-linux and CAP_SYS_ADMIN)")
    out = private / "results"
    script = f"mount -t tmpfs tmpfs {private} && exec \"$@\""
    done = bench(cluster, str(config_file(tmp_path)), "--out", str(out), "--executor", "ray", "--ray-address",
                 cluster.address, prefix=("unshare", "-m", "sh", "-c", script, "sh"), timeout=600)  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"recsys-cl: error: results folder {out}: Ray node ") and "cannot see this folder" in line
    assert not out.exists()  # the driver's private tmpfs went with its namespace; the nodes' side has nothing either


@pytest.mark.slow
def test_grid_and_tuning_over_two_nodes_match_the_local_executor(cluster, tmp_path):
    config = config_file(tmp_path)
    local = bench(cluster, str(config), "--out", str(tmp_path / "local"), "--jobs", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    on_ray = bench(cluster, str(config), "--out", str(tmp_path / "ray"), "--executor", "ray", "--ray-address", cluster.address)
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert trials(tmp_path / "ray") == trials(tmp_path / "local")  # every study tried the same parameters, in order
    assert metrics(tmp_path / "ray").equals(metrics(tmp_path / "local"))
    records = [read_cell(p) for p in (tmp_path / "ray" / "cells").glob("*.json")]
    nodes = {r.node for r in records}
    assert len(nodes) == 2 and all("(ray node " in n for n in nodes)  # spread over both nodes, each recorded
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run["executor"] == "ray" and len(run["nodes"]) == 2


def running_studies(out: Path) -> int:
    """How many studies of ``out`` have a trial running now (read from their journals)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    running = 0
    for journal in (out / "tuning").glob("*.journal") if (out / "tuning").is_dir() else []:
        try:
            storage = JournalStorage(JournalFileBackend(str(journal)))
            for study in storage.get_all_studies():
                trials = optuna.load_study(study_name=study.study_name, storage=storage).get_trials(deepcopy=False)
                running += any(t.state == TrialState.RUNNING for t in trials)
        except Exception:  # noqa: BLE001 - a journal being written may end mid-line: look again
            continue
    return running


@pytest.mark.slow
def test_a_worker_node_killed_mid_run_costs_only_time(tmp_path):
    try:  # tasks run on the two worker nodes only, so the node killed is certainly running a study
        cluster = RayCluster(workers=2, head_cpus=0).start()
    except Unavailable as exc:
        pytest.skip(f"no Ray test cluster can start here: {exc}")
    try:
        config = config_file(tmp_path, LONG_STUDIES)
        assert "implicit-als" in config.read_text() and config.read_text() != CONFIG
        straight = bench(cluster, str(config), "--out", str(tmp_path / "local"))
        assert straight.returncode == 0, straight.stderr[-3000:]
        undisturbed_started = time.time()  # the same run on the same cluster without a loss: the peer of the figure
        undisturbed = bench(cluster, str(config), "--out", str(tmp_path / "undisturbed"), "--executor", "ray", "--ray-address",
                            cluster.address)  # fmt: skip
        undisturbed_seconds = time.time() - undisturbed_started
        assert undisturbed.returncode == 0, undisturbed.stderr[-3000:]
        env = {**os.environ, **cluster.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = tmp_path / "ray"
        started = time.time()
        driver = subprocess.Popen([sys.executable, "-m", "recsys_cl.cli", "bench", str(config), "--out", str(out), "--executor",
                                   "ray", "--ray-address", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)  # fmt: skip
        try:
            deadline = time.time() + 900
            while time.time() < deadline and driver.poll() is None and running_studies(out) < 2:
                time.sleep(0.1)
            assert driver.poll() is None, f"the run ended before both nodes were mid-trial: {driver.stderr.read()[-3000:]}"
            killed_at = time.time()
            cluster.command("kill-worker")  # both workers are mid-trial: one study loses its node
            stdout, stderr = driver.communicate(timeout=1800)
        finally:
            if driver.poll() is None:
                driver.kill()
        finished_at = time.time()
        assert driver.returncode == 0, stderr[-3000:]
    finally:
        cluster.stop()
    # the lost study resumed elsewhere with the same trials (numbered one later after the failed one)
    assert trials(out, numbered=False) == trials(tmp_path / "local", numbered=False)
    assert metrics(out).equals(metrics(tmp_path / "local"))
    lost = [t for p in (out / "tuning").glob("*.json") if p.name != "summaries.json"
            for t in read_study(p).trials if t.state == "fail"]  # fmt: skip
    assert len(lost) == 1 and "left RUNNING" in lost[0].error and not lost[0].counted  # the trial the node took with it
    cells = list((out / "cells").glob("*.json"))
    assert len(cells) == len(json.loads((out / "run.json").read_text())["cells"])  # each cell once, none half-written
    assert not list((out / "cells").glob(".*.tmp"))
    print(f"\nrun with a worker node killed: {finished_at - started:.1f} s wall ({finished_at - killed_at:.1f} s after the kill); "
          f"the same run undisturbed: {undisturbed_seconds:.1f} s")
