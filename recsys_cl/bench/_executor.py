"""One executor for every kind of task a benchmark runs (a cell, a tuning study, a share of a study's
trials): in this process, in a pool of local worker processes, or as Ray tasks.

The driver alone writes results: each task returns its result to ``on_done``, which stores it, so a crash
loses only unfinished tasks. Local workers are spawned (forking after torch has started threads can
deadlock), run single-threaded and end with the driver (:func:`end_with_parent`), so a killed run leaves no
process behind. The first failure stops the run, whichever executor runs it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Literal, Sequence

from recsys_cl.errors import InputError

EXECUTORS = ("local", "ray")
Executor = Literal["local", "ray"]


@dataclasses.dataclass(frozen=True)
class Task:
    """``fn(*args, **kwargs)`` somewhere; picklable (it travels to worker processes and Ray workers)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RayResources:
    """What one Ray task asks of the cluster: ``gpus="auto"`` is one GPU where the cluster has any.
    ``max_retries``: how often Ray runs a task again whose node (or worker process) died under it; a cell
    starts again from nothing and a study resumes from its storage, and the driver alone stores results, so
    a retry never writes anything twice."""

    cpus: float | None = None
    gpus: float | Literal["auto"] = 0
    max_retries: int = 2


def check_executor(executor: str, jobs: int = 1, ray_address: str | None = None) -> None:
    """The executor options, before any work starts (a Ray cluster that is not there is found now)."""
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        from recsys_cl.bench._ray import check_ray_address

        check_ray_address(ray_address)


def run_tasks(
    tasks: Sequence[Task],
    on_done: Callable[[int, Any], None],
    *,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    ray_resources: RayResources = RayResources(),
    on_start: Callable[[int], None] | None = None,
    on_queued: Callable[[int], None] | None = None,
    poll: Callable[[], None] | None = None,
) -> None:
    """Run ``tasks``; ``on_done(index, result)`` in the driver as each finishes.

    ``executor="local"`` with ``jobs == 1`` runs them here in order (``on_start(index)`` before each);
    ``jobs > 1`` runs them in that many worker processes; ``"ray"`` submits one Ray task each
    (``ray_resources``), on the cluster at ``ray_address`` or a local one started (and stopped) here.
    ``on_queued(index)`` when a task is handed to workers; ``poll()`` about once a second while Ray works.
    """
    if executor == "local" and jobs == 1:
        for index, task in enumerate(tasks):
            if on_start:
                on_start(index)
            on_done(index, task.fn(*task.args, **task.kwargs))
    elif executor == "local":
        _run_in_processes(tasks, on_done, jobs, on_queued)
    elif executor == "ray":
        _run_on_ray(tasks, on_done, ray_address, ray_resources, on_queued, poll)
    else:
        raise InputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")


def _run_in_processes(tasks: Sequence[Task], on_done: Callable[[int, Any], None], jobs: int,
                      on_queued: Callable[[int], None] | None) -> None:  # fmt: skip
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=worker_setup, initargs=(os.getpid(),)) as pool:
        pending = {}
        for index, task in enumerate(tasks):
            pending[pool.submit(task.fn, *task.args, **task.kwargs)] = index
            if on_queued:
                on_queued(index)
        try:
            while pending:
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    on_done(index, future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # stop at the first failure, as jobs=1 does
            raise


def _run_on_ray(tasks: Sequence[Task], on_done: Callable[[int, Any], None], ray_address: str | None, resources: RayResources,
                on_queued: Callable[[int], None] | None, poll: Callable[[], None] | None) -> None:  # fmt: skip
    """One Ray task per task.

    When the driver dies (kill -9 included): a Ray started here by ``ray.init()`` (no address) runs
    its head processes (GCS, raylet, ...) fate-shared with the driver (Linux: PR_SET_PDEATHSIG;
    elsewhere Ray's reaper process), and its task workers exit when their raylet goes. On an existing
    cluster (``--ray-address``) the cluster stays up; the GCS marks this driver's job finished when
    the driver's connection drops, and the raylets kill the job's workers with their running tasks.
    """
    if not tasks:
        return
    import ray

    from recsys_cl.bench._ray import start_ray

    started_here = start_ray(ray_address)
    try:
        gpus = resources.gpus
        if gpus == "auto":
            cluster: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
            gpus = 1 if cluster.get("GPU", 0) >= 1 else 0
        options: dict[str, Any] = {"num_gpus": gpus, "max_retries": resources.max_retries}
        if resources.cpus is not None:
            options["num_cpus"] = resources.cpus
        remotes: dict[Callable[..., Any], Any] = {}  # one Ray function per callable, exported once
        pending = {}
        for index, task in enumerate(tasks):
            if task.fn not in remotes:
                remotes[task.fn] = ray.remote(**options)(task.fn)
            remote = remotes[task.fn]
            pending[remote.remote(*task.args, **task.kwargs)] = index
            if on_queued:
                on_queued(index)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                on_done(pending.pop(ref), _ray_result(ray, ref))
            if poll:
                poll()
    finally:
        if started_here:
            ray.shutdown()


def _ray_result(ray: Any, ref: Any) -> Any:
    """``ray.get(ref)``, with a task's own bad-input error (``InputError``: a one-line message, exit 2) raised
    as itself: Ray wraps it in a ``RayTaskError`` whose message carries the worker's whole traceback."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as wrapped:
        cause = getattr(wrapped, "cause", None)
        if isinstance(cause, InputError):
            raise cause from None
        raise


# ---------------------------------------------------------------------------------------------- workers
def worker_setup(driver_pid: int) -> None:
    """Worker-process set-up: end with the driver, one thread for torch and the BLAS/OpenMP pools, and
    RecBole's warnings about its own use of deprecated torch APIs muted as the CLI mutes them (a spawned
    worker does not inherit the driver's warning filters)."""
    import warnings

    warnings.filterwarnings("ignore", module=r"recbole(\.|$)")
    end_with_parent(driver_pid)
    _single_thread_worker()


def end_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """Make this process end when its parent ``parent_pid`` ends, however it ends (kill -9 included).

    A pool worker waits on pipes its own process also holds open, so it never sees the driver go and
    would wait (holding its ~400 MB) forever. On Linux the kernel kills it when its parent dies
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; the "parent" is the thread that started it, here the one
    running :func:`run_tasks`, which outlives the pool). Everywhere, a daemon thread also checks
    every ``poll_seconds`` that the parent is still the parent: once it dies the process is handed to
    init or a subreaper and ``os.getppid()`` changes (Windows hands it to no one: there the parent's
    pid stops existing).
    """
    import ctypes
    import os
    import signal
    import sys
    import threading

    import psutil

    if sys.platform.startswith("linux"):
        try:
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the thread below still works
            pass

    def parent_alive() -> bool:
        return os.getppid() == parent_pid and psutil.pid_exists(parent_pid)

    if not parent_alive():  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while parent_alive():
            time.sleep(poll_seconds)
        os._exit(1)  # no clean-up: the driver that would receive results is gone

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _single_thread_worker() -> None:
    """One thread for torch and the BLAS/OpenMP pools.

    With N cells on N cores, a second thread per process only waits for cores that are taken (a
    small torch op then costs a scheduler time slice: measured 7x slower for NeuMF).
    """
    import os

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
