"""Where a run came from: the git commit, the versions of the packages that decide results, the device."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

#: the packages whose versions a run record keeps (the ones that can change a number)
RECORDED_PACKAGES = ("numpy", "scipy", "pandas", "polars", "torch", "recbole", "implicit", "lightfm-next", "ranx",
                     "faiss-cpu", "sentence-transformers", "ray")  # fmt: skip


def git_commit() -> str | None:
    """The commit of the checkout this package runs from (None outside a git checkout)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def resolved_device(device: str) -> str:
    """The device ``device`` (``auto``, ``cpu``, ``cuda``...) resolves to on this machine."""
    from recsys_cl.device import resolve_device

    return resolve_device(device)
