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
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r} (use auto, cpu or cuda)") from exc
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
