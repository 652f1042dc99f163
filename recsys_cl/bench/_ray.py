"""Starting or joining Ray for the ``ray`` executor, with bad addresses found before Ray is asked.

``ray.init(address=...)`` on an address where no cluster answers retries for minutes (the GCS client
waits 60 s per attempt), which would look like a hang; so a ``host:port`` (or ``ray://host:port``)
address is first probed with one TCP connection, and anything Ray still raises becomes a one-line
:class:`~recsys_cl.errors.InputError` naming ``--ray-address``.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import socket
import sys
from pathlib import Path
from typing import Callable, Iterator, Mapping, ParamSpec, TypeVar

from recsys_cl.errors import InputError

#: seconds one probe connection may take before the address counts as unreachable
PROBE_SECONDS = 5.0
#: seconds every node has to answer the shared-path check before the run stops
NODE_CHECK_SECONDS = 120.0
#: what a driver needs to join a cluster that has token authentication on (Ray's default since 2.5x)
TOKEN_HINT = ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to the cluster's token file (or RAY_AUTH_TOKEN to the "
              "token) for the driver and every node")  # fmt: skip


def check_ray_address(address: str | None) -> None:
    """Fail now if ``address`` names a host:port where nothing accepts a connection (``auto`` and None: Ray's own lookup)."""
    if address is None or address == "auto":
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"--ray-address {address!r}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        raise InputError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def start_ray(address: str | None) -> bool:
    """``ray.init`` for this driver unless Ray is already initialised; returns whether it was started here
    (the caller then shuts it down). Ray started here runs fate-shared with this process."""
    import ray

    if ray.is_initialized():
        return False
    check_ray_address(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
        if _refused_token(exc):
            raise InputError(f"--ray-address {address}: the cluster refused this driver's authentication token; "
                             f"{TOKEN_HINT}") from None  # fmt: skip
        raise InputError(f"--ray-address {address}: cannot join Ray ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return True


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Ray joined (or started) for the block, and shut down after it if it was started here."""
    import ray

    started_here = start_ray(address)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


P = ParamSpec("P")
R = TypeVar("R")


def joins_ray(run: Callable[P, R]) -> Callable[P, R]:
    """``run`` (a function with keyword arguments ``executor`` and ``ray_address``) with Ray joined for its whole
    length when ``executor="ray"``: one connection for all its tasks (studies, then cells), left after it if it
    was started here; an address where no cluster answers is found before joining."""

    @functools.wraps(run)
    def joined(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("executor") != "ray":
            return run(*args, **kwargs)
        address = kwargs.get("ray_address")
        check_ray_address(address if isinstance(address, str) else None)
        with ray_session(address if isinstance(address, str) else None):
            return run(*args, **kwargs)

    return joined


def shared_folders(out_dir: str | Path, storage_url: str | None) -> dict[str, Path]:
    """The folders Ray tasks read and write, which every node must see: the results folder (prepared data and
    embeddings are inside it) and a journal ``--storage`` folder. ``--raw`` folders and the encoder cache are
    read by the driver only (data are prepared and embeddings learned before any task starts)."""
    folders = {"results folder": Path(out_dir)}
    if storage_url and "://" not in storage_url:
        folders["--storage folder"] = Path(storage_url)
    return folders


def _refused_token(exc: BaseException) -> bool:
    """Whether joining failed on token authentication (Ray wraps its AuthenticationError in a ConnectionError)."""
    import ray

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def current_node() -> str:
    """Where this process runs: the host name and, in a Ray worker, the Ray node (one host may run several)."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return f"{host} (ray node {ray.get_runtime_context().get_node_id()[:12]})"
    return host


def node_label(node: Mapping) -> str:
    """A node of ``ray.nodes()`` as :func:`current_node` names it, with its address."""
    return f"{node['NodeManagerHostname']} (ray node {node['NodeID'][:12]}, {node['NodeManagerAddress']})"


def _missing_markers(markers: Mapping[str, str], token: str) -> list[tuple[str, str]]:
    """Run on a node: the (what, folder) whose marker this node cannot read back with ``token`` in it."""
    missing = []
    for what, marker in markers.items():
        try:
            if Path(marker).read_text() == token:
                continue
        except OSError:
            pass
        missing.append((what, str(Path(marker).parent)))
    return missing


def check_shared_paths(paths: Mapping[str, str | Path], timeout: float = NODE_CHECK_SECONDS) -> list[str]:
    """Check that every live node of the joined cluster sees each folder of ``paths`` (what it is -> folder);
    returns the nodes' labels.

    The driver writes a marker with a random token into each folder and one task pinned to each node
    (``NodeAffinitySchedulingStrategy``, no CPU asked, so a busy node still answers) reads them back. A folder
    a node cannot see, or a node that does not answer within ``timeout`` seconds, is an :class:`InputError`
    naming both, before any work starts (a cell whose node cannot read its data would fail or wait later).
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = secrets.token_hex(16)
    markers: dict[str, str] = {}
    try:
        for what, folder in paths.items():
            Path(folder).mkdir(parents=True, exist_ok=True)
            marker = Path(folder).resolve() / f".recsys-cl-shared-{token[:12]}"
            marker.write_text(token)
            markers[what] = str(marker)
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        probe = ray.remote(num_cpus=0, max_retries=0)(_missing_markers)
        pending = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                   .remote(markers, token): node for node in nodes}  # fmt: skip
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
        if late:
            raise InputError(f"Ray node {node_label(pending[late[0]])} did not answer within {timeout:.0f} s; check `ray status`")
        for ref in ready:
            missing = ray.get(ref)
            if missing:
                what, folder = missing[0]
                raise InputError(f"{what} {folder}: Ray node {node_label(pending[ref])} cannot see this folder; results, "
                                 "data and journal folders must be on a filesystem every node mounts at the same path")  # fmt: skip
        return [node_label(node) for node in nodes]
    finally:
        for marker in markers.values():
            Path(marker).unlink(missing_ok=True)
