"""docs/cluster.md as written: its config and every command of its ```bash blocks, run in order in one shell
against a two-node Ray cluster with token authentication, a PostgreSQL server and an MLflow tracking server that
this test starts on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from docs_pages import bash_commands, yaml_blocks
from servers import MlflowServer, RayCluster, Unavailable, postgres_server

PAGE = "cluster.md"


def test_the_page_has_the_commands_and_config_the_slow_test_runs():
    commands = bash_commands(PAGE)
    assert commands[0].startswith("export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=")
    assert any("--executor ray --ray-address $RAY_ADDRESS --storage $TUNING_DB --mlflow $MLFLOW_URI" in c for c in commands)
    assert commands[-1].startswith("recsys-cl compare") and len(yaml_blocks(PAGE)) == 1


@pytest.mark.slow
def test_the_cluster_page_runs_as_written(tmp_path):
    pytest.importorskip("psycopg", reason="PostgreSQL studies need the [postgres] extra")
    shared = tmp_path / "shared"
    (shared / "ray").mkdir(parents=True)
    (tmp_path / "cluster.yaml").write_text(yaml_blocks(PAGE)[0])
    with contextlib.ExitStack() as stack:
        try:
            database = stack.enter_context(postgres_server())
            cluster = RayCluster(workers=1).start()
            stack.callback(cluster.stop)
            mlflow = MlflowServer(tmp_path / "mlflow").start()
            stack.callback(mlflow.stop)
        except Unavailable as exc:
            pytest.skip(f"a server of the page cannot start here: {exc}")
        os.link(cluster.env["RAY_AUTH_TOKEN_PATH"], shared / "ray" / "auth_token")  # the token, where the page keeps it
        env = {**os.environ, "SHARED": str(shared), "RAY_ADDRESS": cluster.address, "TUNING_DB": database,
               "MLFLOW_URI": mlflow.uri, "RAY_TMPDIR": cluster.env["RAY_TMPDIR"],
               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # the test cluster's nodes talk over 127.0.0.1 only
               "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # fmt: skip
        script = "set -euo pipefail\n" + "\n".join(bash_commands(PAGE))
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2400)
        assert done.returncode == 0, done.stderr[-4000:]
        assert "MLflow: " in done.stdout and "no regression" in done.stdout
