"""Strict CSV reading for the adapters: every column as a string (ids never become numbers),
header and delimiter checked first, and type conversions that name the file and line that failed."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from recsys_cl.data._atomic import write_json
from recsys_cl.errors import InputError

_OTHER_DELIMITERS = (";", "\t", "|")


def read_header(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise InputError(f"{path}: empty file (no header line)")
    return next(csv.reader([first]))


def check_columns(path: Path, header: Sequence[str], required: Sequence[str]) -> None:
    missing = [c for c in required if c not in header]
    if not missing:
        return
    if len(header) == 1:
        for delim in _OTHER_DELIMITERS:
            if delim in header[0]:
                raise InputError(f"{path}:1: header is not comma-separated (found {delim!r}); expected columns {', '.join(required)}")
    raise InputError(f"{path}:1: missing column(s) {', '.join(missing)}")


def read_strings(
    path: Path,
    required: Sequence[str],
    columns: Sequence[str] | None = None,
    overrides: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Read a comma-separated file with a header, all columns as strings, requiring ``required``.

    ``overrides`` reads some columns as another type instead: ``pl.Categorical`` for ids that repeat
    (each distinct string stored once), or a number type (a bad value then fails the whole read).
    """
    header = read_header(path)
    check_columns(path, header, required)
    try:
        frame = pl.read_csv(
            path,
            infer_schema=False,
            columns=list(columns) if columns else None,
            schema_overrides=dict(overrides) if overrides else None,
            encoding="utf8-lossy",
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: cannot parse as CSV: {str(exc).splitlines()[0]}") from exc
    if frame.height == 0:
        raise InputError(f"{path}: no data rows after the header")
    # polars reads "" as null for strings with missing_utf8_is_empty_string=False: keep nulls as missing.
    return frame


def cast_or_fail(frame: pl.DataFrame, path: Path, column: str, expr: pl.Expr, what: str) -> pl.Series:
    """Evaluate ``expr`` (a non-strict conversion of ``column``); name the first line where it failed."""
    converted = frame.select(expr.alias("_v"))["_v"]
    failed = converted.is_null() & frame[column].is_not_null()
    if failed.any():
        row = int(failed.arg_max())
        raise InputError(f"{path}:{row + 2}: column {column}: cannot parse {frame[column][row]!r} as {what}")
    return converted


def distinct_rows(column: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Distinct values of a non-null Categorical column (as strings) and, for each row, its value's position.

    Converting each distinct value once and gathering the results by row is how a 31.8M-row column
    with a few thousand distinct values (H&M's dates, article ids) is converted in a fraction of the time.
    """
    distinct = column.unique()
    codes = distinct.to_physical().to_numpy()
    position = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    position[codes] = np.arange(len(codes))
    return distinct.cast(pl.Utf8), position[column.to_physical().to_numpy()]


def require_not_null(frame: pl.DataFrame, path: Path, column: str) -> None:
    missing = frame[column].is_null()
    if missing.any():
        raise InputError(f"{path}:{int(missing.arg_max()) + 2}: column {column} is empty")


def require_unique(frame: pl.DataFrame, path: Path, column: str) -> None:
    duplicated = frame[column].is_duplicated()
    if duplicated.any():
        row = int(duplicated.arg_max())
        later = frame.with_row_index("_i").filter(pl.col(column) == frame[column][row])["_i"]
        raise InputError(
            f"{path}:{int(later[1]) + 2}: column {column}: duplicate id {frame[column][row]!r} (first on line {row + 2})"
        )


def default_cache_dir() -> Path:
    """The user's cache folder: ``$RECSYS_CL_CACHE``, else ``~/.cache/recsys-cl``."""
    return Path(os.environ.get("RECSYS_CL_CACHE", Path.home() / ".cache" / "recsys-cl"))


#: a file changed less than this long before it was hashed is hashed again next time: a rewrite within the
#: same timestamp tick (coarse on some file systems: 2 s on FAT, ~4 ms on ext4) keeps mtime and ctime
#: unchanged, so a cached hash of such a file could hide it (git's "racily clean" entries, same remedy)
RACY_SECONDS = 2.0
#: entries kept in the fingerprint cache (the most recently hashed win)
_CACHE_ENTRIES = 1000
_HASH_CHUNK = 8 << 20


def content_hash(path: Path) -> str:
    """sha256 of the whole file, read in 8 MiB chunks (sha256 over ~1.4 GB/s a core with SHA extensions:
    measured faster than blake2b and md5 on these machines)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(paths: Sequence[Path], cache_dir: Path | None = None) -> str:
    """Fingerprint of input files' contents: sha256 over each file's name and :func:`content_hash`.

    Each file's hash is cached in ``<cache_dir>/fingerprints.json`` (default :func:`default_cache_dir`)
    under its resolved path with its size, mtime, ctime, inode and device, so an unchanged 3.5 GB file
    is not read again. ctime is in the key because no user call can set it: a rewrite in place that
    keeps the size and puts the old mtime back (``touch -d``, ``os.utime``) still moves ctime and is
    hashed again. What cannot be seen without reading is a rewrite that also keeps ctime, which takes
    setting the system clock back or writing to the raw device. Files changed within
    :data:`RACY_SECONDS` of hashing are not cached (see there). A cache that cannot be read or written
    only costs time: the hash is computed, never guessed.
    """
    cache_file = Path(cache_dir or default_cache_dir()) / "fingerprints.json"
    cache = _read_cache(cache_file)
    digest = hashlib.sha256()
    added = False
    for path in sorted(Path(p) for p in paths):
        key = str(path.resolve())
        stat = path.stat()
        identity = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]
        entry = cache.get(key)
        if isinstance(entry, dict) and entry.get("identity") == identity and isinstance(entry.get("sha256"), str):
            file_hash = entry["sha256"]
        else:
            hashed_at = time.time_ns()
            file_hash = content_hash(path)
            # changed during hashing, or too recently for its timestamps to tell a later rewrite apart
            after = path.stat()
            settled = max(after.st_mtime_ns, after.st_ctime_ns) < hashed_at - RACY_SECONDS * 1e9
            if settled and [after.st_size, after.st_mtime_ns, after.st_ctime_ns, after.st_ino, after.st_dev] == identity:
                cache[key] = {"identity": identity, "sha256": file_hash, "hashed_at": hashed_at}
                added = True
        digest.update(f"{path.name}\0{stat.st_size}\0{file_hash}\0".encode())
    if added:
        _write_cache(cache_file, cache)
    return digest.hexdigest()


def _read_cache(cache_file: Path) -> dict[str, Any]:
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):  # missing, unreadable or damaged: start again (a cache, not an input)
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_cache(cache_file: Path, cache: dict[str, Any]) -> None:
    newest = sorted(cache.items(), key=lambda kv: kv[1].get("hashed_at", 0) if isinstance(kv[1], dict) else 0)
    try:
        # atomic rename: concurrent runs never see half a file; the last writer's entries win (others re-hash)
        write_json(cache_file, dict(newest[-_CACHE_ENTRIES:]))
    except OSError:  # read-only home or full disk: fingerprints stay right, only slower next time
        pass
