"""Files written safely: through a temporary name renamed into place, so a crash never leaves a half-written
file behind; output folders checked before any work. Shared by every subpackage that writes."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from recsys_cl.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_output", "check_output_dir", "write_json"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should read like any other file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_output_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Fail now, before any reading or computing, if ``out_dir`` cannot be made and written to.

    Checks the folder itself if it exists, else its nearest existing ancestor (nothing is created
    here): it must be a folder, and a file must be creatable in it (a probe file, removed at once;
    permission bits alone do not tell for root or read-only mounts).
    """
    out_dir = Path(out_dir)
    existing = out_dir
    try:
        while not os.path.lexists(existing) and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            if existing == out_dir:
                raise InputError(f"{out_dir}: output folder exists and is not a folder")
            raise InputError(f"{out_dir}: cannot create the output folder: {existing} is not a folder")
    except OSError as exc:  # e.g. a parent folder we may not look into
        raise InputError(f"{out_dir}: cannot check the output folder: {exc.strerror} ({exc.filename})") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the output folder: creating a file in {existing} failed ({exc.strerror})") from None
    return out_dir


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
