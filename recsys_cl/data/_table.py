"""Adapter: your own interactions (``source: table``) from CSV, TSV or Parquet files (gzip too), by a
column mapping -> RecBole atomic files.

::

    prepare:
      interactions: {file: events.csv, user: customer, item: sku, time: ts}      # weight / rating / price optional
      items: {file: products.parquet, id: sku, text: [title, description], categorical: [category], image: image_path}
      users: {file: customers.csv, id: customer, categorical: [segment]}

Every file goes through the checks the H&M adapter makes (:mod:`recsys_cl.data._csv`: field counts, cut
last lines, bytes that are not UTF-8, ids that repeat with other values), each error naming its
``file:line`` (for Parquet: ``file:row``, 1 = the first row). Time is Unix seconds or ISO 8601 dates /
date-times (UTC unless they carry an offset); which one was found is written to the metadata, and a
column that mixes them is refused. Without a time column the protocols that order by time (loo,
temporal) are refused and every timestamp is 0.
"""

from __future__ import annotations

import gzip
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recsys_cl.data._atomic import clean_text
from recsys_cl.data._csv import (
    BadBytes,
    distinct_rows,
    fingerprint,
    line_number,
    numbers_or_fail,
    read_strings,
    require_not_null,
)
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._hm import MISSING, InteractionFilters, filter_interactions
from recsys_cl.data._source import Source, register_source
from recsys_cl.data._split import TIME_ORDERED
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress

#: file endings read, and how
FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".parquet": None}
#: columns the adapter writes itself; a categorical column may not take one of these names
RESERVED = ("user_id", "item_id", "timestamp", "text", "image_path", "weight", "rating", "price")
_NUMBER = r"^\s*[+-]?\d+(\.\d*)?\s*$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
#: Unix seconds above this are year 5138: such a column is in milliseconds (or another unit)
_MAX_SECONDS = 1e11


class _Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: str = Field(..., description="path relative to the raw folder: .csv, .tsv, .parquet, or .csv.gz / .tsv.gz")

    @field_validator("file")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if table_format(value) is False:
            raise ValueError(f"{value!r}: expected a .csv, .tsv or .parquet file (.csv.gz / .tsv.gz too)")
        return value


class InteractionsMapping(_Mapping):
    """Columns of the interactions file: who, what, when, and optional numbers."""

    user: str
    item: str
    time: str | None = Field(None, description="Unix seconds or ISO 8601 dates; absent: loo and temporal are refused")
    weight: str | None = None
    rating: str | None = None
    price: str | None = None

    def columns(self) -> dict[str, str]:
        """role -> file column of every mapped column."""
        roles = ("user", "item", "time", "weight", "rating", "price")
        return {role: getattr(self, role) for role in roles if getattr(self, role) is not None}


class ItemsMapping(_Mapping):
    """Columns of the items file: the id, text for the encoders, categorical attributes, an image path."""

    id: str
    text: list[str] = Field(default_factory=list, description="joined into the item text the text encoders read")
    categorical: list[str] = Field(default_factory=list, description="attributes kept as item fields")
    image: str | None = Field(None, description="image file path relative to the raw folder")

    def columns(self) -> list[str]:
        return list(dict.fromkeys([self.id, *self.text, *self.categorical, *([self.image] if self.image else [])]))


class UsersMapping(_Mapping):
    """Columns of the users file: the id and categorical attributes."""

    id: str
    categorical: list[str] = Field(default_factory=list)

    def columns(self) -> list[str]:
        return list(dict.fromkeys([self.id, *self.categorical]))


class TableOptions(InteractionFilters):
    """``source: table``: the column mapping, the H&M adapter's filters, and what to do with unknown items."""

    name: str = "table"
    interactions: InteractionsMapping
    items: ItemsMapping | None = Field(None, description="absent: no item content (no text or image embeddings)")
    users: UsersMapping | None = None
    unknown_items: Literal["refuse", "drop"] = Field(
        "refuse", description="interactions whose item is not in the items table: refuse, or drop them (counted in meta)"
    )
    replace_bad_bytes: bool = Field(
        False, description="replace bytes that are not UTF-8 by U+FFFD (lines counted in meta.json) instead of stopping"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "TableOptions":
        if self.interactions.time is None:
            ordered = [p for p in self.protocols if p in TIME_ORDERED]
            if ordered:
                raise ValueError(f"protocols: {ordered[0]} orders each user's interactions by time, and interactions.time "
                                 "is not mapped; map a time column or use cold-item")  # fmt: skip
            if self.weeks is not None:
                raise ValueError("weeks: keeping the last weeks needs interactions.time")
        for table in ("items", "users"):
            mapping = getattr(self, table)
            for column in mapping.categorical if mapping is not None else []:
                if column in RESERVED or any(c in column for c in ":\t\n"):
                    raise ValueError(f"{table}.categorical: column {column!r} cannot be kept under its name (the "
                                     f"dataset writes {', '.join(RESERVED)} itself; ':' and tabs cannot be in a name)")  # fmt: skip
        if self.unknown_items == "drop" and self.items is None:
            raise ValueError("unknown_items: drop needs an items table")
        return self


def table_format(file: str) -> str | None | Literal[False]:
    """The separator of a text table (None: Parquet), or False for an unknown ending."""
    name = file.lower().removesuffix(".gz")
    for ending, separator in FORMATS.items():
        if name.endswith(ending) and not (ending == ".parquet" and file.lower().endswith(".gz")):
            return separator
    return False


def read_table(
    path: Path, columns: list[str], bad_bytes: BadBytes, scratch: Path, categorical: tuple[str, ...] = ()
) -> pl.DataFrame:
    """The ``columns`` of one table file as strings (``categorical`` ones as ``pl.Categorical``), with a
    ``_line`` column (its file line, for Parquet its row) where the adapter drops rows before naming lines.

    A ``.gz`` file is unpacked into ``scratch`` first (the checks read bytes; the copy is removed after),
    and its errors name the ``.gz`` file."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    separator = table_format(path.name)
    if separator is None:
        return _read_parquet(path, columns, categorical)
    if not path.name.lower().endswith(".gz"):
        return _read_text(path, path, columns, bad_bytes, categorical, str(separator))
    plain = scratch / f".unpacked-{path.name.removesuffix('.gz').removesuffix('.GZ')}"
    try:
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
    except (OSError, EOFError) as exc:  # not gzip, or cut short
        plain.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot unpack as gzip ({exc})") from None
    try:
        return _read_text(plain, path, columns, bad_bytes, categorical, str(separator))
    finally:
        plain.unlink(missing_ok=True)


def _read_text(
    plain: Path, named: Path, columns: list[str], bad_bytes: BadBytes, categorical: tuple[str, ...], separator: str
) -> pl.DataFrame:
    try:
        frame = read_strings(plain, columns, columns, {c: pl.Categorical for c in categorical}, bad_bytes, separator=separator)
    except InputError as exc:
        raise InputError(str(exc).replace(str(plain), str(named))) from None
    if plain != named and plain.name in bad_bytes.lines:
        bad_bytes.lines[named.name] = bad_bytes.lines.pop(plain.name)
    return frame


def _read_parquet(path: Path, columns: list[str], categorical: tuple[str, ...]) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(path)
        missing = [c for c in columns if c not in schema]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} (it has {', '.join(list(schema)[:12])})")
        frame = pl.read_parquet(path, columns=columns)
    except InputError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    if frame.height == 0:
        raise InputError(f"{path}: no rows")
    # ids become strings (an integer id 42 is the token "42"); numbers and times keep their types (parse_time
    # and the number columns read them as they are); any other type is read as its text
    kept = [c for c in columns if c not in categorical and (frame.schema[c].is_numeric() or frame.schema[c].is_temporal())]
    frame = frame.with_columns([pl.col(c).cast(pl.Utf8) for c in columns if c not in kept])
    return frame.with_columns([pl.col(c).cast(pl.Categorical) for c in categorical]).with_row_index("_line", offset=1)


def parse_time(frame: pl.DataFrame, path: Path, column: str) -> tuple[pl.Series, str]:
    """Unix seconds (float) of ``column`` and what was found: ``"Unix seconds"``, ``"ISO dates"`` or
    ``"ISO date-times"``. Strings are classified once per distinct value; a mixture is refused with a line of each."""
    require_not_null(frame, path, column)
    series = frame[column]
    if series.dtype.is_numeric():
        seconds, kind = series.cast(pl.Float64), "Unix seconds"
    elif series.dtype.is_temporal():
        kind = "dates" if series.dtype == pl.Date else "date-times"
        seconds = series.cast(pl.Datetime("ms")).dt.epoch("ms").cast(pl.Float64) / 1000.0
    else:
        seconds, kind = _parse_time_strings(frame, path, column)
    bad = ~seconds.is_finite()
    if bad.any():
        row = int(bad.arg_max())
        raise InputError(f"{path}:{line_number(frame, row)}: column {column}: {series[row]!r} is not a finite time")
    if kind == "Unix seconds" and float(seconds.abs().max()) > _MAX_SECONDS:
        row = int((seconds.abs() > _MAX_SECONDS).arg_max())
        raise InputError(f"{path}:{line_number(frame, row)}: column {column}: {series[row]!r} is not Unix seconds "
                         "(milliseconds? divide by 1000 first)")  # fmt: skip
    return seconds, kind


def _parse_time_strings(frame: pl.DataFrame, path: Path, column: str) -> tuple[pl.Series, str]:
    series = frame[column]
    if series.dtype != pl.Categorical:
        series = series.cast(pl.Utf8).cast(pl.Categorical)
    values, row_of = distinct_rows(series)
    values = values.str.strip_chars()
    kinds = {
        "Unix seconds": values.str.contains(_NUMBER),
        "ISO dates": values.str.contains(_ISO_DATE),
        "ISO date-times": values.str.contains(_ISO_DATETIME),
    }
    first_row = np.full(len(values), np.iinfo(np.int64).max)
    np.minimum.at(first_row, row_of, np.arange(len(row_of)))  # each distinct value's first row, for messages
    found = {kind: mask for kind, mask in kinds.items() if mask.any()}
    none = ~(kinds["Unix seconds"] | kinds["ISO dates"] | kinds["ISO date-times"])
    if none.any():
        row = int(first_row[none.to_numpy()].min())
        raise InputError(f"{path}:{line_number(frame, row)}: column {column}: cannot read {frame[column][row]!r} as Unix "
                         "seconds or an ISO 8601 date (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM])")  # fmt: skip
    if len(found) > 1:
        firsts = sorted((int(first_row[mask.to_numpy()].min()), kind) for kind, mask in found.items())
        (row_a, kind_a), (row_b, kind_b) = firsts[:2]  # the two forms in the order the file first uses them
        raise InputError(
            f"{path}:{line_number(frame, max(row_a, row_b))}: column {column} mixes {kind_a} (line {line_number(frame, row_a)}: "
            f"{frame[column][row_a]!r}) and {kind_b} (line {line_number(frame, row_b)}: {frame[column][row_b]!r}); use one form"
        )
    (kind,) = found
    if kind == "Unix seconds":
        distinct = values.cast(pl.Float64)
    elif kind == "ISO dates":
        distinct = values.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("ms")).dt.epoch("ms") / 1000.0
        if distinct.is_null().any():  # the shape of a date, not a calendar day (2024-02-30)
            row = int(first_row[distinct.is_null().to_numpy()].min())
            raise InputError(f"{path}:{line_number(frame, row)}: column {column}: {frame[column][row]!r} is not a calendar date")
    else:
        distinct = pl.Series([_iso_seconds(v) for v in values.to_list()], dtype=pl.Float64)
        if distinct.is_null().any():
            row = int(first_row[distinct.is_null().to_numpy()].min())
            raise InputError(f"{path}:{line_number(frame, row)}: column {column}: {frame[column][row]!r} is not a valid date-time")
    return distinct.cast(pl.Float64).gather(row_of), kind


def _iso_seconds(value: str) -> float | None:
    """Unix seconds of an ISO 8601 date-time; naive ones are read as UTC. Python's parser (not polars'):
    polars infers one format per column and fails a column that mixes ``T`` and space or offsets."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def read_interactions(raw: Path, mapping: InteractionsMapping, bad_bytes: BadBytes, scratch: Path) -> tuple[pl.DataFrame, str]:
    """The interactions as ``user_id``, ``item_id``, ``timestamp`` [``weight``, ``rating``, ``price``] in file
    order, and what the time column held."""
    path = raw / mapping.file
    roles = mapping.columns()
    ids = (mapping.user, mapping.item)
    # ids, and a time column of a text file, repeat: read as Categorical, each distinct string is checked and
    # converted once (H&M's 3.2M rows at 10% hold ~730 days); Parquet times keep their own type
    repeated = ids + ((mapping.time,) if mapping.time is not None and table_format(mapping.file) is not None else ())
    frame = read_table(path, list(dict.fromkeys(roles.values())), bad_bytes, scratch, categorical=tuple(dict.fromkeys(repeated)))
    for column in ids:
        require_not_null(frame, path, column)
    columns: dict[str, pl.Series] = {"user_id": frame[mapping.user].alias("user_id"), "item_id": frame[mapping.item].alias("item_id")}
    if mapping.time is not None:
        seconds, kind = parse_time(frame, path, mapping.time)
    else:
        seconds, kind = pl.Series("timestamp", np.zeros(frame.height)), "none (no time column mapped; every timestamp is 0)"
    columns["timestamp"] = seconds.alias("timestamp")
    for role in ("weight", "rating", "price"):
        column = roles.get(role)
        if column is not None:
            values = frame[column]
            if not values.dtype.is_numeric():
                values = numbers_or_fail(frame, path, column)
            columns[role] = values.cast(pl.Float64).alias(role)
    if "_line" in frame.columns:
        columns["_line"] = frame["_line"]
    return pl.DataFrame(list(columns.values())), kind


def read_items(raw: Path, mapping: ItemsMapping, bad_bytes: BadBytes, scratch: Path) -> tuple[pl.DataFrame, dict[str, int]]:
    """The items table: ``item_id``, the categorical columns, ``text``, ``image_path``; rows that repeat an id
    with the same values are kept once (counted), an id that repeats with other values is refused."""
    path = raw / mapping.file
    frame, repeated = unique_id_rows(read_table(path, mapping.columns(), bad_bytes, scratch), path, mapping.id, mapping.columns())
    counts = {"rows_repeated": repeated}
    # no text column without mapped text: the text encoders then say so, instead of encoding empty strings
    text = [
        pl.concat_list([clean_text(pl.col(c)) for c in mapping.text]).list.eval(pl.element().filter(pl.element() != ""))
        .list.join(". ").alias("text")
    ] if mapping.text else []  # fmt: skip
    items = frame.select(
        pl.col(mapping.id).cast(pl.Utf8).alias("item_id"),
        *[clean_text(pl.col(c)).replace("", MISSING).alias(c) for c in mapping.categorical],
        *text,
    )
    if mapping.image is not None:
        root = raw.resolve()
        paths = frame[mapping.image].cast(pl.Utf8).fill_null("").str.strip_chars().to_list()
        found = [p if p and _inside(root, raw / p) else "" for p in paths]
        counts["image_paths_not_found"] = sum(1 for p, f in zip(paths, found) if p and not f)
        items = items.with_columns(pl.Series("image_path", found, dtype=pl.Utf8))
    return items, counts


def _inside(root: Path, path: Path) -> bool:
    """An existing file below ``root`` (a path that leads out of the raw folder is not an item's image)."""
    try:
        return path.resolve().is_relative_to(root) and path.is_file()
    except OSError:
        return False


def unique_id_rows(frame: pl.DataFrame, path: Path, id_column: str, columns: list[str]) -> tuple[pl.DataFrame, int]:
    """Rows that repeat another row's values exactly are kept once; an id on two rows that disagree is an
    InputError naming both lines."""
    require_not_null(frame, path, id_column)
    if "_line" not in frame.columns:
        frame = frame.with_row_index("_line", offset=2)
    frame = frame.with_columns(pl.col(id_column).cast(pl.Utf8))  # verbatim, as the interactions' ids are read
    kept = frame.unique(subset=columns, keep="first", maintain_order=True)
    duplicated = kept[id_column].is_duplicated()
    if duplicated.any():
        first = int(duplicated.arg_max())
        value = kept[id_column][first]
        lines = kept.filter(pl.col(id_column) == value)["_line"]
        raise InputError(f"{path}:{lines[1]}: column {id_column}: id {value!r} repeats line {lines[0]} with other values")
    return kept, frame.height - kept.height


def read_users(raw: Path, mapping: UsersMapping, bad_bytes: BadBytes, scratch: Path) -> tuple[pl.DataFrame, int]:
    path = raw / mapping.file
    frame, repeated = unique_id_rows(read_table(path, mapping.columns(), bad_bytes, scratch), path, mapping.id, mapping.columns())
    users = frame.select(
        pl.col(mapping.id).alias("user_id"), *[clean_text(pl.col(c)).replace("", MISSING).alias(c) for c in mapping.categorical]
    )
    return users, repeated


def build_table(raw: Path | None, out_dir: Path, options: TableOptions, progress: StageProgress) -> dict[str, Any]:
    """Read the mapped tables from ``raw``, check and filter them, split and write ``out_dir``."""
    assert raw is not None
    tick = progress
    bad_bytes = BadBytes(replace=options.replace_bad_bytes)
    meta: dict[str, Any] = {}
    items = users = None
    tick("read items", 0, 4)
    if options.items is not None:
        items, meta["items_table"] = read_items(raw, options.items, bad_bytes, out_dir)
    tick("read interactions", 1, 4)
    inter, meta["time_column"] = read_interactions(raw, options.interactions, bad_bytes, out_dir)
    path = raw / options.interactions.file
    if items is not None:
        sold = inter["item_id"].unique().cast(pl.Utf8)
        unknown = sold.filter(~sold.is_in(items["item_id"].implode()))
        meta["interactions_dropped_unknown_item"] = 0
        if len(unknown):
            rows = inter["item_id"].cast(pl.Utf8).is_in(unknown.implode())
            if options.unknown_items == "refuse":
                first = int(rows.arg_max())
                raise InputError(
                    f"{path}:{line_number(inter, first)}: item {inter['item_id'][first]!r} is not in {options.items.file} "
                    f"({int(rows.sum())} rows, {len(unknown)} items); add them, or set unknown_items: drop"
                )
            inter = inter.filter(~rows)
            meta["interactions_dropped_unknown_item"] = int(rows.sum())
    inter, meta["filtering"] = filter_interactions(inter.drop("_line", strict=False), options)
    if options.users is not None:
        users, repeated = read_users(raw, options.users, bad_bytes, out_dir)
        meta["users_table"] = {"rows_repeated": repeated}
        buyers = inter["user_id"].unique().cast(pl.Utf8)
        meta["users_missing_from_users_table"] = int((~buyers.is_in(users["user_id"].implode())).sum())
        users = users.filter(pl.col("user_id").is_in(buyers.implode()))
    tick("split and write", 3, 4)
    files = _inputs(raw, options)
    types = {"weight": "float", "rating": "float", "price": "float", "text": "token_seq", "image_path": "token"}
    for mapping in (options.items, options.users):
        types.update({c: "token" for c in (mapping.categorical if mapping is not None else [])})
    return write_dataset(
        out_dir,
        options.name,
        inter,
        items=items,
        users=users,
        protocols=options.protocols,
        protocol_options=options.protocol_options(),
        types=types,
        progress=lambda stage, done, total: tick(f"split and write: {stage}", 3, 4),
        extra_meta={
            "source": "table",
            "raw_dir": str(raw.resolve()),
            "source_fingerprint": fingerprint(files),
            "options": options.model_dump(),
            "lines_with_replaced_bytes": bad_bytes.lines,
            "timestamp_unit": f"Unix seconds, read from {meta['time_column']}",
            "content": "items table: text, attributes and images as mapped" if items is not None
            else "none: no items table was mapped, so no text or image embeddings can be learned",
            **meta,
        },
    )  # fmt: skip


def _inputs(raw: Path | None, options: TableOptions) -> list[Path]:
    assert raw is not None
    mappings = [options.interactions, options.items, options.users]
    return [raw / m.file for m in mappings if m is not None]


register_source(Source("table", TableOptions, build_table, raw="required", has_interactions=True,
                       description="your own interactions (CSV, TSV or Parquet, gzip too) by a column mapping",
                       inputs=_inputs))  # fmt: skip
