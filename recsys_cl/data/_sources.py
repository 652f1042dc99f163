"""Data sources: one registry, one signature, one way to prepare a dataset folder.

``prepare(source, out_root, raw=..., options=...)`` turns a source into ``out_root/<name>/`` (atomic
files, split files, ``<name>.meta.json``). Every source has a typed options class (validated before
any work starts, unknown keys rejected with their path) and a build function with the signature
``build(raw, out_dir, options, progress) -> meta``. The folder is built beside its final place, in a
temporary sibling, and swapped in only when everything succeeded: a failed re-run leaves the previous
dataset whole. ``load_dataset`` (in ``_dataset``) is the one way back in.

Sources: ``hm`` (the Kaggle download), ``hm-synth`` (the synthetic generator, then ``hm``), ``ml-100k``
(the copy inside RecBole's package), ``styles`` (Fashion Product Images, no users: retrieval only) and
``styles-synth``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel

from recsys_cl.data._source import SOURCES, Source, SourceOptions
from recsys_cl.errors import InputError, StorageError, storage_errors, validated
from recsys_cl.files import check_output_dir
from recsys_cl.progress import StageProgress, no_stage_progress


_UMASK = os.umask(0)
os.umask(_UMASK)


def source_options(source: str, values: Mapping[str, Any] | BaseModel | None, where: str = "", *, key_prefix: str = "") -> SourceOptions:
    """``values`` validated by the source's options class (an InputError names the key)."""
    src = SOURCES.get(source)
    if isinstance(values, src.options):
        return values
    if isinstance(values, BaseModel):
        values = values.model_dump()
    return validated(src.options, values, where or f"prepare {source}", key_prefix=key_prefix)


def prepare(
    source: str,
    out_root: str | Path,
    *,
    raw: str | Path | None = None,
    options: Mapping[str, Any] | BaseModel | None = None,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    """Prepare ``source`` into ``out_root/<options.name>/``; returns the metadata written.

    Everything is checked before work starts (options, raw folder, output folder); the dataset is built
    in a temporary sibling folder and swapped in only when complete.
    """
    src = SOURCES.get(source)
    opts = source_options(source, options)
    out_root = Path(out_root)
    check_output_dir(out_root / opts.name)
    raw_path = Path(raw) if raw is not None else None
    if src.raw == "required":
        if raw_path is None:
            raise InputError(f"prepare {source}: a raw folder is needed (--raw)")
        if not raw_path.is_dir():
            raise InputError(f"{raw_path}: raw {source} folder not found")
    elif src.raw == "generated" and raw_path is None:
        raise InputError(f"prepare {source}: a folder for the generated raw files is needed (--raw)")
    final = out_root / opts.name
    if final.exists() and not final.is_dir():
        raise InputError(f"{final}: exists and is not a folder")
    created = [d for d in (out_root, *out_root.parents) if not d.exists()]  # removed again on failure
    out_root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{opts.name}.", suffix=".building", dir=out_root))
    os.chmod(building, 0o777 & ~_UMASK)  # mkdtemp makes 0700; a dataset folder should read like any other
    try:
        with storage_errors(final):
            meta = src.build(raw_path, building, opts, progress or no_stage_progress)
            _swap_in(building, final)
    except StorageError as exc:  # named by the file's final place, not the temporary folder that is gone
        shutil.rmtree(building, ignore_errors=True)
        _remove_empty(created)
        raise StorageError(str(exc).replace(str(building), str(final))) from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        _remove_empty(created)
        raise
    return meta


def _remove_empty(created: list[Path]) -> None:
    for folder in created:  # deepest first; only if still empty
        try:
            folder.rmdir()
        except OSError:
            break


def input_fingerprint(source: str, raw: str | Path | None, options: Mapping[str, Any] | BaseModel | None) -> str:
    """A hash of everything a prepared dataset is made from: the source, its options, the contents of its
    input files (cached by size, mtime and inode, so an unchanged 3.5 GB file is not read again) and a
    listing (name, size, mtime) of its image folder. Computed before any work, so a changed input
    re-prepares exactly the datasets that depend on it. Synthetic sources are decided by their options.
    The code version is not part of it: it names the data, which a new release does not change."""
    import hashlib
    import json

    from recsys_cl.data._csv import fingerprint

    src = SOURCES.get(source)
    opts = source_options(source, options)
    parts: dict[str, Any] = {"source": source, "options": opts.model_dump(mode="json")}
    raw_path = Path(raw) if raw is not None else None
    if src.raw != "generated":
        files = src.inputs(raw_path, opts)
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise InputError(f"{missing[0]}: file not found")
        parts["files"] = fingerprint(files) if files else None
        if raw_path is not None and (raw_path / "images").is_dir():
            parts["images"] = _listing_fingerprint(raw_path / "images")
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _listing_fingerprint(folder: Path) -> str:
    """Hash of (relative path, size, mtime) of every file below ``folder``: image folders are too large
    to read whole on every run (H&M's are tens of GB), and a replaced image changes size or mtime."""
    import hashlib

    digest = hashlib.sha256()
    entries = []
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    stat = entry.stat()
                    entries.append(f"{Path(entry.path).relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for line in sorted(entries):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def _swap_in(building: Path, final: Path) -> None:
    """Put the finished ``building`` folder at ``final``; the previous dataset is removed only afterwards.

    Two renames: the old folder aside, the new one in. A crash between them leaves the old dataset in
    ``.<name>.previous-*`` beside it (whole) and no ``<name>``, never a mix of both.
    """
    if final.exists():
        previous = final.with_name(f".{final.name}.previous-{uuid.uuid4().hex[:8]}")
        os.rename(final, previous)
        os.rename(building, final)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.rename(building, final)

