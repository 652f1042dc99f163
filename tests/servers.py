"""Throwaway servers on 127.0.0.1 for the team set-ups the tests run as users run them: a PostgreSQL cluster
(Debian's ``postgresql`` package: ``initdb`` + ``pg_ctl`` in a temporary folder) and an MLflow tracking server
(``mlflow server``). Each is a context manager that yields what a user would type (a URL) and removes
everything it made; where a server cannot start here, :class:`Unavailable` says why (the tests skip with it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator


class Unavailable(RuntimeError):
    """The server cannot be started on this machine (the message says why)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------- PostgreSQL
def postgres_bin() -> Path:
    """The folder of ``initdb`` / ``pg_ctl``: Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise Unavailable("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)")
    return Path(versions[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    """``initdb`` and ``postgres`` refuse to run as root: there they run as the package's ``postgres`` user."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root without runuser: cannot start PostgreSQL as another user")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
    return [runuser, "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def postgres_server(database: str = "tuning") -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1 (trust authentication, its own temporary folder); yields the
    URL of an empty ``database`` in it, ``postgresql://postgres@127.0.0.1:PORT/DATABASE``."""
    bindir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="recsys-cl-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    log = folder / "server.log"

    def run(argv: list[str]) -> None:
        done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise Unavailable(f"{Path(argv[0]).name} failed: {' | '.join(tail)}")

    started = False
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"])
        started = True
        run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- MLflow
def mlflow_server_missing() -> str | None:
    """Why ``mlflow server`` cannot run in this environment (None: it can). The skinny client has the
    command but not the server's modules: those are the ``tracking-server`` extra."""
    for module in ("mlflow", "flask", "flask_cors", "graphene", "aiohttp", "huey"):
        try:
            __import__(module)
        except ImportError:
            return f"mlflow server needs {module!r}: pip install 'recsys-cl[tracking-server]'"
    return None


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite store and an artifact folder in ``folder``; restartable on the
    same port and store (a test stops it mid-run and starts it again)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = Path(folder), port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> "MlflowServer":
        why = mlflow_server_missing()
        if why:
            raise Unavailable(why)
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                "--artifacts-destination", str(self.folder / "artifacts")]  # fmt: skip
        log = open(self.folder / "server.log", "ab")
        # its own process group: stop() ends the server and the workers it starts, nothing else
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"mlflow server exited with {self.process.returncode}; see {self.folder / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise Unavailable(f"mlflow server did not answer on {self.uri} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(folder).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------- Ray
#: Ray's own multi-node test cluster, run in a child process that takes commands on stdin
_RAY_CLUSTER = """
import json, signal, sys
import psutil
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.1", "num_cpus": int(sys.argv[2]),
                                                         "include_dashboard": False})
workers = [cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1) for _ in range(int(sys.argv[1]))]
print(json.dumps({"address": cluster.address}), flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "kill-worker":  # SIGKILL every process of the last worker node, as a machine that dies:
        node = workers.pop()  # its task workers (children of its raylet) first, then the node's own processes
        tasks = [child for infos in node.all_processes.values() for info in infos
                 for child in psutil.Process(info.process.pid).children(recursive=True)]
        for process in tasks:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        cluster.remove_node(node, allow_graceful=False)
    elif command == "add-worker":
        workers.append(cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1))
    elif command == "stop":
        break
    print(json.dumps({"done": command, "workers": len(workers)}), flush=True)
cluster.shutdown()
"""


def ray_token() -> str:
    """A new cluster token, as ``ray get-auth-token --generate`` makes one."""
    from ray._private.authentication.authentication_token_generator import generate_new_authentication_token

    return generate_new_authentication_token()


class RayCluster:
    """A Ray cluster of a head (``head_cpus`` CPUs; 0: it runs no task) and ``workers`` worker nodes (1 CPU each)
    on 127.0.0.1, with token authentication.

    :attr:`env` is what every process of the cluster, and every driver, needs: ``RAY_AUTH_MODE=token`` and the
    token file (``RAY_AUTH_TOKEN_PATH``); ``RAY_TMPDIR`` keeps its sessions (and Ray's "current cluster" file)
    out of the machine's shared /tmp/ray; ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray from replacing
    127.0.0.1 by the machine's network address (a test machine's nodes talk over loopback only).
    """

    def __init__(self, workers: int = 1, head_cpus: int = 1) -> None:
        self.workers, self.head_cpus = workers, head_cpus
        self.folder = Path(tempfile.mkdtemp(prefix="rcl-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
        token = self.folder / "auth_token"
        token.write_text(ray_token())
        token.chmod(0o600)
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_TMPDIR": str(self.folder),
                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
        self.address = ""
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 240.0) -> "RayCluster":
        import json
        import threading

        environment = {**os.environ, **self.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        log = open(self.folder / "cluster.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-c", _RAY_CLUSTER, str(self.workers), str(self.head_cpus)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=log, text=True, env=environment,
                                        start_new_session=True)  # fmt: skip
        log.close()
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not first or not first[0].strip():
            self.stop()
            raise Unavailable(f"the Ray test cluster did not start within {timeout:.0f} s; see {self.folder / 'cluster.log'}")
        self.address = json.loads(first[0])["address"]
        return self

    def command(self, command: str, timeout: float = 120.0) -> None:
        """``kill-worker`` (SIGKILL the last worker node's processes) or ``add-worker``; returns once done."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if command not in answer:
            raise RuntimeError(f"Ray test cluster: {command} failed ({answer!r}); see {self.folder / 'cluster.log'}")

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                self.process.stdin.write("stop\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # whatever the cluster left (it ran in its own session)
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
