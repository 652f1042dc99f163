"""Strict CSV reading for the adapters: every column as a string (ids never become numbers),
header and delimiter checked first, and type conversions that name the file and line that failed."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import polars as pl

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


def fingerprint(paths: Sequence[Path]) -> str:
    """Cheap source fingerprint: sha256 over each file's name, size, first and last MiB.

    Hashing 3.5 GB of H&M CSV in full would take longer than converting it; size plus both ends
    catches replaced, truncated and re-exported files, which is what the fingerprint is for.
    """
    digest = hashlib.sha256()
    chunk = 1 << 20
    for path in sorted(paths):
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with open(path, "rb") as fh:
            digest.update(fh.read(chunk))
            if size > chunk:
                fh.seek(max(size - chunk, chunk))
                digest.update(fh.read(chunk))
    return digest.hexdigest()
