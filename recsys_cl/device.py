"""Where torch work runs: ``auto`` picks CUDA when there is a GPU, else the CPU; and on how many CPU threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from recsys_cl.errors import InputError


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` if torch sees a GPU, else ``cpu``; any other name torch accepts is returned as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r} (use auto, cpu or cuda)") from exc
    # a device this machine does not have fails deep inside torch (an AssertionError): say so now
    if parsed.type == "cuda" and (not torch.cuda.is_available() or (parsed.index or 0) >= torch.cuda.device_count()):
        raise InputError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) torch can use (use auto or cpu)")
    if parsed.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InputError(f"device {device!r}: MPS is not available on this machine (use auto or cpu)")
    return device


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` CPU threads inside the block, restored after (0 or None: leave torch's setting alone)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
