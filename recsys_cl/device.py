"""Where torch work runs: ``auto`` picks CUDA when there is a GPU, else the CPU."""

from __future__ import annotations

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
