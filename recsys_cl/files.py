"""Files written safely: through a temporary name renamed into place, so a crash never leaves a half-written
file behind; output folders checked before any work. Shared by every subpackage that writes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from recsys_cl.errors import InputError, StorageError, storage_error, storage_errors

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_output", "check_output_dir", "read_json", "staged_outputs", "write_json"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the name of a file to write")
    with storage_errors(path):  # a full disk: a StorageError naming the file, and the temporary file removed
        check_output_dir(path.parent)  # a file where a folder of the path should be: one line, not a traceback
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


@contextlib.contextmanager
def staged_outputs(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder inside ``out_dir`` for a set of outputs that belong together (a report's
    Markdown, HTML and figures; an embedding and its vectors, ids and quality): when the block succeeds
    each file is moved to the same relative path in ``out_dir`` (renames, which need no space), else the
    folder is removed and ``out_dir`` holds what it held before. Other files in ``out_dir`` stay."""
    out_dir = check_output_dir(out_dir)  # a file in its place, or a folder that cannot be written: one line
    with storage_errors(out_dir):
        created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staged-", suffix=".tmp", dir=out_dir))
        try:
            yield staging
            built = sorted(p for p in staging.rglob("*") if not p.is_dir())
            for source in built:  # all checked before any is moved: a refusal moves nothing
                target = out_dir / source.relative_to(staging)
                folders = [out_dir / p for p in source.relative_to(staging).parents if p != Path(".")]
                if target.is_dir() or any(f.exists() and not f.is_dir() for f in folders):
                    raise InputError(f"{target}: a folder is in the way of this file, or a file in the way of its folder")
            for source in built:
                target = out_dir / source.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(source, 0o666 & ~_UMASK)
                os.replace(source, target)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            for folder in created:  # nothing of a failed build stays behind, the folders it made included
                try:
                    folder.rmdir()
                except OSError:
                    break
            error = exc if isinstance(exc, StorageError) else storage_error(getattr(exc, "filename", None) or out_dir, exc)
            if error is not None:  # named by where the file was going, not the folder that is gone
                raise StorageError(str(error).replace(str(staging), str(out_dir))) from exc
            raise
        shutil.rmtree(staging, ignore_errors=True)


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


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The UTF-8 text of ``path``; an InputError naming the file when it is missing, and the line of the
    first bytes that are not UTF-8 (the same message as the data adapters' readers)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: bytes that are not UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """The JSON document in ``path``; an InputError naming the file (and line) when it is missing, not
    UTF-8, not JSON, or nested too deeply to read."""
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid JSON: nested too deeply") from None


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
