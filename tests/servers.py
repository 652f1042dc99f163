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
