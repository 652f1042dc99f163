"""Starting or joining Ray for the ``ray`` executor, with bad addresses found before Ray is asked.

``ray.init(address=...)`` on an address where no cluster answers retries for minutes (the GCS client
waits 60 s per attempt), which would look like a hang; so a ``host:port`` (or ``ray://host:port``)
address is first probed with one TCP connection, and anything Ray still raises becomes a one-line
:class:`~recsys_cl.errors.InputError` naming ``--ray-address``.
"""

from __future__ import annotations

import socket

from recsys_cl.errors import InputError

#: seconds one probe connection may take before the address counts as unreachable
PROBE_SECONDS = 5.0


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
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--ray-address {address}: cannot join Ray ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return True
