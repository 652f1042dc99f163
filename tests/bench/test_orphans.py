"""A killed driver leaves no process behind: ``bench --jobs 2`` workers (and the resource tracker) end with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import recsys_cl

CONFIG = """
name: orphans
datasets:
  - {name: tiny, source: hm-synth, synth: {customers: 60, articles: 30, weeks: 4, transactions: 600, images: false}}
protocols: [loo]
models:
  - {model: pop}
seeds: [%s]
ks: [10]
"""
N_CELLS = 40


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def living(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_until_gone(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.time() + seconds
    while living(processes) and time.time() < deadline:
        time.sleep(0.1)
    return living(processes)


def cells_done(out: Path) -> int:
    return len(list((out / "cells").glob("*.json"))) if (out / "cells").is_dir() else 0


def bench_then_kill_9(tmp_path, options: list[str], ready, seconds: float = 240) -> tuple[list[psutil.Process], Path]:
    """Start ``recsys-cl bench`` with ``options``; once ``ready(descendants, out)`` holds, kill -9 the
    driver alone. Returns its descendants as they were just before, and the results folder."""
    config = tmp_path / "orphans.yaml"
    config.write_text(CONFIG % ", ".join(str(s) for s in range(N_CELLS)))
    out = tmp_path / "out"
    driver = subprocess.Popen(
        [sys.executable, "-m", "recsys_cl.cli", "bench", str(config), "--out", str(out), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + seconds
        while time.time() < deadline and driver.poll() is None:
            if ready(psutil.Process(driver.pid).children(recursive=True), out):
                break
            time.sleep(0.05)
        descendants = psutil.Process(driver.pid).children(recursive=True)
    finally:
        driver.kill()  # SIGKILL
        driver.wait()
    return descendants, out


def test_bench_workers_end_when_the_driver_is_killed(tmp_path):
    def workers_past_set_up(descendants, out):  # both started, a cell done and more queued
        return sum("spawn_main" in command_line(p) for p in descendants) == 2 and cells_done(out) >= 1

    children, out = bench_then_kill_9(tmp_path, ["--jobs", "2"], workers_past_set_up)
    try:
        assert len(children) >= 2 and cells_done(out) < N_CELLS, f"killed too late: {cells_done(out)} cells, {children}"
        left = wait_until_gone(children, 5.0)
        assert not left, f"still running 5 s after the driver was killed: {[command_line(p)[:90] for p in left]}"
    finally:
        for process in living(children):
            process.kill()


def test_end_with_parent_fallback_without_prctl(tmp_path):
    """The portable path alone (as on macOS): a thread that sees the parent go."""
    child_code = (
        "import sys, time, psutil, os\n"
        "from recsys_cl.bench._executor import end_with_parent\n"
        "sys.platform = 'darwin'  # skip prctl: only the watching thread is left\n"
        "end_with_parent(os.getppid(), poll_seconds=0.2)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    parent_code = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child_code!r}], stdout=sys.stdout)\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(recsys_cl.__file__).resolve().parents[1])}  # the code under test
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=env)
    child = None
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        assert parent.stdout.readline().strip() == "ready"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert not wait_until_gone([child], 3.0), "child outlived its parent by 3 s"
    finally:
        if child is not None and living([child]):
            child.kill()
        if parent.poll() is None:
            parent.kill()


@pytest.mark.slow
def test_ray_started_by_the_driver_ends_with_it(tmp_path):
    """Ray's own fate sharing (nothing of ours): task workers, raylet and GCS end within seconds;
    its two small agents notice the raylet is gone and follow within about a minute."""
    ray_processes, _ = bench_then_kill_9(tmp_path, ["--executor", "ray"], lambda _, out: cells_done(out) >= 1, 300)
    try:
        agents = [p for p in ray_processes if "Agent" in command_line(p)]
        heavy = [p for p in ray_processes if p not in agents]
        assert any("ray::" in command_line(p) for p in heavy), f"no Ray task worker was running: {ray_processes}"
        left = wait_until_gone(heavy, 10.0)
        assert not left, f"still running 10 s after the driver was killed: {[command_line(p)[:90] for p in left]}"
        assert not wait_until_gone(agents, 150.0)
    finally:
        for process in living(ray_processes):
            process.kill()
