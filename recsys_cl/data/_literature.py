"""Adapters for the datasets the literature publishes on: RecBole atomic folders (``source: recbole``) and
MMRec's multimodal Amazon sets (``source: mmrec``) -> our dataset folders.

``recbole``: ``<name>.inter`` [``.item``, ``.user``] with RecBole's typed headers (``user_id:token``), as in
RecBole's dataset collection (ml-1m, Amazon categories, Yelp, ...). ``token_seq`` fields of ``.item``
become the item text; ``float_seq`` fields become item vectors. When the folder holds RecBole benchmark
files (``<name>.train.inter``, ``.valid.inter``, ``.test.inter``), the interactions are their union and
the protocol ``given`` keeps their split.

``mmrec``: MMRec's layout (github.com/enoche/MMRec, ``data/README.md`` and ``preprocessing/``):
``<name>.inter`` tab-separated with the header ``userID itemID rating timestamp x_label`` (x_label: 0
train, 1 valid, 2 test), ``i_id_mapping.csv`` (tab-separated ``asin itemID``), ``u_id_mapping.csv``
(``user_id userID``), ``image_feat.npy`` and ``text_feat.npy`` (row i = itemID i). The ids are MMRec's
integers, so split files line up with MMRec's; the feature files become the item vectors ``image`` and
``text`` (``method: dataset-vectors``). Like MMRec (``filter_out_cod_start_users``), valid and test rows
of users without a training row are dropped, and counted.

Both read every file with the H&M adapter's checks (field counts, cut last lines, bytes that are not
UTF-8, ids repeated with other values), errors naming ``file:line``; a feature file whose row count is
not the item count is refused. Item vectors are written as ``<name>.<key>.itememb.npy`` + ``.ids.txt``
(what ``read_itememb`` loads), without the text copy: MMRec's 4096-wide image features would make it
hundreds of MB of decimals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from recsys_cl.data._atomic import clean_text
from recsys_cl.data._csv import (
    BadBytes,
    fingerprint,
    line_number,
    numbers_or_fail,
    read_header,
    read_strings,
    require_not_null,
)
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._hm import InteractionFilters, filter_interactions
from recsys_cl.data._source import InteractionOptions, Source, register_source
from recsys_cl.data._split import GIVEN_PART, TIME_ORDERED
from recsys_cl.data._table import unique_id_rows
from recsys_cl.errors import InputError
from recsys_cl.files import atomic_output
from recsys_cl.progress import StageProgress

ATOMIC_KINDS = ("token", "token_seq", "float", "float_seq")
#: RecBole's benchmark_filename parts, in our part order
BENCHMARK_PARTS = ("train", "valid", "test")


# ---------------------------------------------------------------------------------------------- shared
def read_typed_atomic(path: Path, bad_bytes: BadBytes) -> tuple[pl.DataFrame, dict[str, str]]:
    """A RecBole atomic file checked line by line: columns named without their ``:type``, float columns as
    numbers (empty = missing, as RecBole reads them), everything else as strings; and each column's type."""
    header = read_header(path, "\t", quoting=False)
    types: dict[str, str] = {}
    for position, field in enumerate(header, start=1):
        name, sep, kind = field.partition(":")
        if not sep or kind not in ATOMIC_KINDS or not name:
            raise InputError(f"{path}:1: header field {position} {field!r} is not name:type with type in {', '.join(ATOMIC_KINDS)}")
        if name in types:
            raise InputError(f"{path}:1: header names field {name!r} twice")
        types[name] = kind
    frame = read_strings(path, header, bad_bytes=bad_bytes, separator="\t", quoting=False)
    frame = frame.rename(dict(zip(header, types)))
    return frame.with_columns([numbers_or_fail(frame, path, c) for c, kind in types.items() if kind == "float"]), types


def _rename_field(frame: pl.DataFrame, path: Path, field: str, to: str, option: str) -> pl.DataFrame:
    if field not in frame.columns:
        raise InputError(f"{path}:1: no field {field!r} (have {', '.join(frame.columns)}); set {option}")
    if to in frame.columns and to != field:
        raise InputError(f"{path}:1: has both {field!r} and {to!r}; the adapter names {field} {to}")
    return frame.rename({field: to})


def write_item_vectors(out_dir: Path, name: str, key: str, item_ids: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """``<name>.<key>.itememb.npy`` + ``.ids.txt`` (float32, one row per id): vectors a dataset brings."""
    stem = out_dir / f"{name}.{key}.itememb"
    with atomic_output(Path(f"{stem}.npy")) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32))
    with atomic_output(Path(f"{stem}.ids.txt")) as tmp:
        tmp.write_text("\n".join(item_ids) + "\n", encoding="utf-8")
    return {"file": stem.name, "items": len(item_ids), "dim": int(vectors.shape[1])}


def _check_finite(vectors: np.ndarray, path: Path) -> None:
    for start in range(0, len(vectors), 4096):  # in blocks: a memory-mapped 755 MB file is not copied whole
        bad = ~np.isfinite(vectors[start : start + 4096]).all(axis=1)
        if bad.any():
            raise InputError(f"{path}: row {start + int(np.argmax(bad))} holds a value that is not finite (NaN or inf)")


def _refuse_unordered(protocols: list[str], path: Path, reason: str) -> None:
    ordered = [p for p in protocols if p in TIME_ORDERED]
    if ordered:
        raise InputError(f"{path}: {reason}; protocol {ordered[0]} orders each user's interactions by time "
                         "(use given or cold-item)")  # fmt: skip


# ---------------------------------------------------------------------------------------------- recbole
class RecBoleOptions(InteractionFilters):
    """``source: recbole``: which fields are user, item and time (RecBole's USER_ID_FIELD, ...), which
    ``.item`` fields become text and vectors, and what to do with interactions of items ``.item`` lacks."""

    name: str = "recbole"
    dataset: str | None = Field(None, description="file prefix (<dataset>.inter); default: the raw folder's name")
    user_field: str = "user_id"
    item_field: str = "item_id"
    time_field: str | None = Field("timestamp", description="None: no time (loo and temporal are refused)")
    text_fields: list[str] | None = Field(None, description="token_seq fields of .item joined into the item text; default all")
    vector_fields: list[str] | None = Field(None, description="float_seq fields of .item written as item vectors; default all")
    unknown_items: Literal["refuse", "drop", "keep"] = Field(
        "refuse", description="interactions whose item is not in .item: refuse, drop them, or keep them (items without content)"
    )
    replace_bad_bytes: bool = False
    given_split: ClassVar[bool] = True


def _recbole_files(raw: Path, options: RecBoleOptions) -> tuple[str, dict[str, Path]]:
    prefix = options.dataset or raw.name
    files = {part: raw / f"{prefix}.{part}.inter" for part in BENCHMARK_PARTS}
    present = [part for part, path in files.items() if path.is_file()]
    if present and len(present) < len(BENCHMARK_PARTS):
        missing = [f"{prefix}.{p}.inter" for p in BENCHMARK_PARTS if p not in present]
        raise InputError(f"{raw}: has {prefix}.{present[0]}.inter but not {', '.join(missing)} (a benchmark split needs all three)")
    if not present:
        files = {"inter": raw / f"{prefix}.inter"}
        if not files["inter"].is_file():
            raise InputError(f"{files['inter']}: file not found (a RecBole folder holds <dataset>.inter; set dataset: to the prefix)")
    for suffix in ("item", "user"):
        if (raw / f"{prefix}.{suffix}").is_file():
            files[suffix] = raw / f"{prefix}.{suffix}"
    return prefix, files


def build_recbole(raw: Path | None, out_dir: Path, options: RecBoleOptions, progress: StageProgress) -> dict[str, Any]:
    assert raw is not None
    tick = progress
    bad_bytes = BadBytes(replace=options.replace_bad_bytes)
    prefix, files = _recbole_files(raw, options)
    tick("read interactions", 0, 4)
    given = "inter" not in files
    parts, types, sources = [], {}, []
    for code, key in enumerate(BENCHMARK_PARTS if given else ("inter",)):
        frame, kinds = read_typed_atomic(files[key], bad_bytes)
        if types and kinds != types:
            raise InputError(f"{files[key]}:1: header differs from {files['train'].name}'s")
        types = kinds
        frame = _rename_field(frame, files[key], options.user_field, "user_id", "user_field")
        frame = _rename_field(frame, files[key], options.item_field, "item_id", "item_field")
        for column in ("user_id", "item_id", *([options.time_field] if options.time_field in frame.columns else [])):
            require_not_null(frame, files[key], column)
        parts.append(frame.with_columns(pl.lit(code, pl.UInt8).alias(GIVEN_PART)) if given else frame)
        sources.append((files[key], frame.height))
    inter = pl.concat(parts)
    first = files["train" if given else "inter"]
    if options.time_field is not None and options.time_field in inter.columns:
        if types[options.time_field] != "float":
            raise InputError(f"{first}:1: time field {options.time_field!r} is {types[options.time_field]}, not float (Unix seconds)")
        inter = _rename_field(inter, first, options.time_field, "timestamp", "time_field")
        timestamp_unit = f"Unix seconds (field {options.time_field})"
    else:
        _refuse_unordered(options.protocols, first, f"no time field {options.time_field!r}")
        inter = inter.with_columns(pl.lit(0.0).alias("timestamp"))
        timestamp_unit = "none (no time field; every timestamp is 0)"
    if "given" in options.protocols and not given:
        raise InputError(f"{raw}: protocol given needs RecBole benchmark files {prefix}.train.inter, .valid.inter, .test.inter")
    types = {({options.user_field: "user_id", options.item_field: "item_id", options.time_field: "timestamp"}).get(k, k): v
             for k, v in types.items()}  # fmt: skip
    meta: dict[str, Any] = {"benchmark_files": given}
    tick("read items and users", 1, 4)
    items = users = None
    if "item" in files:
        items, item_types, meta["item_vectors"] = _recbole_items(files["item"], out_dir, options, bad_bytes)
        types.update(item_types)
        inter, meta["interactions_with_unknown_item"] = _unknown_items(inter, items, files["item"], sources, options.unknown_items)
    inter, meta["filtering"] = filter_interactions(inter, options)
    if "user" in files:
        users, user_types = _recbole_users(files["user"], options, bad_bytes)
        types.update(user_types)
        buyers = inter["user_id"].unique()
        meta["users_missing_from_user_file"] = int((~buyers.is_in(users["user_id"].implode())).sum())
        users = users.filter(pl.col("user_id").is_in(buyers.implode()))
    tick("split and write", 3, 4)
    return write_dataset(
        out_dir, options.name, inter, items=items, users=users, protocols=options.protocols,
        protocol_options=options.protocol_options(), types={**types, "text": "token_seq"},
        progress=lambda stage, done, total: tick(f"split and write: {stage}", 3, 4),
        extra_meta={
            "source": "recbole", "raw_dir": str(raw.resolve()), "prefix": prefix,
            "source_fingerprint": fingerprint(list(files.values())), "options": options.model_dump(),
            "lines_with_replaced_bytes": bad_bytes.lines, "timestamp_unit": timestamp_unit, **meta,
        },
    )  # fmt: skip


def _recbole_items(
    path: Path, out_dir: Path, options: RecBoleOptions, bad_bytes: BadBytes
) -> tuple[pl.DataFrame, dict[str, str], dict[str, Any]]:
    """The ``.item`` table (text joined from token_seq fields), its types, and the vectors written from float_seq fields."""
    frame, types = read_typed_atomic(path, bad_bytes)
    frame = _rename_field(frame, path, options.item_field, "item_id", "item_field")
    types = {("item_id" if k == options.item_field else k): v for k, v in types.items()}
    frame, _ = unique_id_rows(frame, path, "item_id", [c for c in frame.columns])
    for option, kind in (("text_fields", "token_seq"), ("vector_fields", "float_seq")):
        for field in getattr(options, option) or []:
            if types.get(field) != kind:
                raise InputError(f"{path}:1: {option}: {field!r} is not a {kind} field of this file")
    text_fields = options.text_fields if options.text_fields is not None else [c for c, k in types.items() if k == "token_seq"]
    vector_fields = options.vector_fields if options.vector_fields is not None else [c for c, k in types.items() if k == "float_seq"]
    vectors = {}
    ids = frame["item_id"].to_list()
    for field in vector_fields:
        vectors[field] = write_item_vectors(out_dir, options.name, field, ids, _float_seq(frame, path, field))
    if text_fields and "text" not in frame.columns:
        text = pl.concat_list([clean_text(pl.col(c)) for c in text_fields]).list.eval(pl.element().filter(pl.element() != ""))
        frame = frame.with_columns(text.list.join(". ").alias("text"))
    float_seq = [c for c, k in types.items() if k == "float_seq"]  # kept as vectors, not as text in .item
    frame = frame.drop(["_line", *float_seq])
    return frame, {k: v for k, v in types.items() if k not in float_seq}, vectors


def _float_seq(frame: pl.DataFrame, path: Path, field: str) -> np.ndarray:
    """A float_seq field (numbers separated by spaces) as a (rows, d) matrix: one length, finite values."""
    values = frame[field].fill_null("").str.strip_chars()
    lengths = values.str.count_matches(r"\S+")
    if lengths.n_unique() != 1 or lengths[0] == 0:
        row = int((lengths != lengths.mode()[0]).arg_max()) if lengths.n_unique() != 1 else 0
        raise InputError(f"{path}:{line_number(frame, row)}: field {field}: {lengths[row]} numbers, expected "
                         f"{lengths.mode()[0]} like the other rows (one vector length)")  # fmt: skip
    numbers = values.str.split(" ").list.eval(pl.element().filter(pl.element() != "").cast(pl.Float64, strict=False))
    matrix = np.asarray(numbers.to_list(), dtype=np.float64)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{path}:{line_number(frame, row)}: field {field}: a value is not a finite number")
    return matrix


def _recbole_users(path: Path, options: RecBoleOptions, bad_bytes: BadBytes) -> tuple[pl.DataFrame, dict[str, str]]:
    frame, types = read_typed_atomic(path, bad_bytes)
    frame = _rename_field(frame, path, options.user_field, "user_id", "user_field")
    frame, _ = unique_id_rows(frame, path, "user_id", list(frame.columns))
    types = {("user_id" if k == options.user_field else k): v for k, v in types.items() if v != "float_seq"}
    return frame.drop("_line").select([c for c in types]), types


def _unknown_items(
    inter: pl.DataFrame, items: pl.DataFrame, item_file: Path, sources: list[tuple[Path, int]], rule: str
) -> tuple[pl.DataFrame, int]:
    """Interactions whose item is not in ``.item``: refused (naming the file and line of the first), dropped or kept.
    ``sources``: the interaction files ``inter`` was read from, in order, with their row counts."""
    unknown = ~inter["item_id"].is_in(items["item_id"].implode())
    count = int(unknown.sum())
    if count and rule == "refuse":
        row = int(unknown.arg_max())
        for path, rows in sources:  # the file the row came from, and its line there
            if row < rows:
                break
            row -= rows
        raise InputError(f"{path}:{row + 2}: item {inter['item_id'][int(unknown.arg_max())]!r} is not in "
                         f"{item_file.name} ({count} rows); set unknown_items: drop or keep")  # fmt: skip
    return (inter.filter(~unknown) if rule == "drop" else inter), count


def _recbole_inputs(raw: Path | None, options: RecBoleOptions) -> list[Path]:
    assert raw is not None
    return list(_recbole_files(raw, options)[1].values())


register_source(Source("recbole", RecBoleOptions, build_recbole, raw="required", has_interactions=True,
                       description="a RecBole atomic folder (<name>.inter [.item .user], benchmark split files too)",
                       inputs=_recbole_inputs))  # fmt: skip


# ---------------------------------------------------------------------------------------------- mmrec
MMREC_FEATURES = {"image": "image_feat.npy", "text": "text_feat.npy"}
MMREC_INTER_COLUMNS = ("userID", "itemID", "x_label")


class MMRecOptions(InteractionOptions):
    """``source: mmrec``: the file prefix, and MMRec's rule for users without training rows."""

    name: str = "mmrec"
    protocols: list[str] = Field(default_factory=lambda: ["given"])
    dataset: str | None = Field(None, description="file prefix (<dataset>.inter); default: the raw folder's name")
    drop_cold_users: bool = Field(
        True, description="MMRec's filter_out_cod_start_users: drop valid/test rows of users without a train row"
    )
    replace_bad_bytes: bool = False
    given_split: ClassVar[bool] = True


def _mmrec_files(raw: Path, options: MMRecOptions) -> dict[str, Path]:
    prefix = options.dataset or raw.name
    files = {"inter": raw / f"{prefix}.inter", "items": raw / "i_id_mapping.csv"}
    for key, path in files.items():
        if not path.is_file():
            raise InputError(f"{path}: file not found (MMRec's layout: {prefix}.inter, i_id_mapping.csv [, u_id_mapping.csv, "
                             "image_feat.npy, text_feat.npy]; set dataset: to the prefix)")  # fmt: skip
    for key, name in (("users", "u_id_mapping.csv"), *MMREC_FEATURES.items()):
        if (raw / name).is_file():
            files[key] = raw / name
    return files


def _integer_ids(frame: pl.DataFrame, path: Path, column: str) -> pl.Series:
    require_not_null(frame, path, column)
    values = frame[column].str.strip_chars()
    bad = ~values.str.contains(r"^\d+$")
    if bad.any():
        row = int(bad.arg_max())
        raise InputError(f"{path}:{line_number(frame, row)}: column {column}: {frame[column][row]!r} is not a non-negative integer id")
    return values.str.strip_chars_start("0").replace("", "0")


def build_mmrec(raw: Path | None, out_dir: Path, options: MMRecOptions, progress: StageProgress) -> dict[str, Any]:
    assert raw is not None
    tick = progress
    bad_bytes = BadBytes(replace=options.replace_bad_bytes)
    files = _mmrec_files(raw, options)
    tick("read items", 0, 4)
    path = files["items"]
    mapping = read_strings(path, ("asin", "itemID"), ("asin", "itemID"), bad_bytes=bad_bytes, separator="\t")
    mapping = mapping.with_columns(_integer_ids(mapping, path, "itemID").alias("itemID"))
    require_not_null(mapping, path, "asin")
    items, _ = unique_id_rows(mapping.select("itemID", "asin"), path, "itemID", ["itemID", "asin"])
    items, _ = unique_id_rows(items.select("asin", "itemID", "_line"), path, "asin", ["asin", "itemID"])
    n_items = items.height
    numbers = items["itemID"].cast(pl.Int64)
    if set(numbers.to_list()) != set(range(n_items)):
        missing = sorted(set(range(n_items)) - set(numbers.to_list()))[:3]
        raise InputError(f"{path}: itemID must run 0..{n_items - 1} (row i of the feature files is item i); "
                         f"missing {missing}")  # fmt: skip
    items = items.sort(numbers).select(pl.col("itemID").alias("item_id"), "asin")
    tick("read interactions", 1, 4)
    path = files["inter"]
    header = read_header(path, "\t")
    frame = read_strings(path, MMREC_INTER_COLUMNS, header, bad_bytes=bad_bytes, separator="\t")
    inter = pl.DataFrame({"user_id": _integer_ids(frame, path, "userID"), "item_id": _integer_ids(frame, path, "itemID")})
    label = _integer_ids(frame, path, "x_label")
    bad = ~label.is_in(["0", "1", "2"])
    if bad.any():
        row = int(bad.arg_max())
        raise InputError(f"{path}:{row + 2}: column x_label: {frame['x_label'][row]!r} is not 0 (train), 1 (valid) or 2 (test)")
    inter = inter.with_columns(label.cast(pl.UInt8).alias(GIVEN_PART))
    if "timestamp" in header:
        inter = inter.with_columns(numbers_or_fail(frame, path, "timestamp").fill_null(0.0))
        timestamp_unit = "Unix seconds (MMRec's timestamp column)"
    else:
        _refuse_unordered(options.protocols, path, "no timestamp column")
        inter = inter.with_columns(pl.lit(0.0).alias("timestamp"))
        timestamp_unit = "none (no timestamp column; every timestamp is 0)"
    if "rating" in header:
        inter = inter.with_columns(numbers_or_fail(frame, path, "rating"))
    unknown = ~inter["item_id"].is_in(items["item_id"].implode())
    if unknown.any():
        row = int(unknown.arg_max())
        raise InputError(f"{path}:{row + 2}: itemID {inter['item_id'][row]!r} is not in i_id_mapping.csv ({int(unknown.sum())} rows)")
    meta: dict[str, Any] = {"cold_user_rows_dropped": 0}
    if options.drop_cold_users:
        trained = inter.filter(pl.col(GIVEN_PART) == 0)["user_id"].unique()
        cold = (pl.col(GIVEN_PART) != 0) & ~pl.col("user_id").is_in(trained.implode())
        meta["cold_user_rows_dropped"] = int(inter.select(cold.sum()).item())
        inter = inter.filter(~cold)
    tick("read features", 2, 4)
    vectors = {}
    ids = items["item_id"].to_list()
    for key, name in MMREC_FEATURES.items():
        if key in files:
            vectors[key] = write_item_vectors(out_dir, options.name, key, ids, _feature_matrix(files[key], n_items))
    users = None
    if "users" in files:
        path = files["users"]
        table = read_strings(path, ("user_id", "userID"), ("user_id", "userID"), bad_bytes=bad_bytes, separator="\t")
        table = table.select(_integer_ids(table, path, "userID").alias("user_id"), pl.col("user_id").alias("reviewer_id"))
        users, _ = unique_id_rows(table, path, "user_id", ["user_id", "reviewer_id"])
        unknown_users = ~inter["user_id"].is_in(users["user_id"].implode())
        if unknown_users.any():
            raise InputError(f"{files['inter']}: userID {inter['user_id'][int(unknown_users.arg_max())]!r} is not in "
                             f"u_id_mapping.csv ({int(unknown_users.sum())} rows)")  # fmt: skip
        users = users.drop("_line").filter(pl.col("user_id").is_in(inter["user_id"].unique().implode()))
    tick("split and write", 3, 4)
    return write_dataset(
        out_dir, options.name, inter, items=items, users=users, protocols=options.protocols,
        protocol_options=options.protocol_options(), types={"rating": "float"},
        progress=lambda stage, done, total: tick(f"split and write: {stage}", 3, 4),
        extra_meta={
            "source": "mmrec", "raw_dir": str(raw.resolve()), "source_fingerprint": fingerprint(list(files.values())),
            "options": options.model_dump(), "lines_with_replaced_bytes": bad_bytes.lines,
            "timestamp_unit": timestamp_unit, "item_vectors": vectors,
            "content": "MMRec's precomputed features only (method: dataset-vectors, vectors: image / text); no item text",
            **meta,
        },
    )  # fmt: skip


def _feature_matrix(path: Path, n_items: int) -> np.ndarray:
    """A feature file as float32 (rows, d), refused unless it is a 2-D number array of ``n_items`` rows.
    Read memory-mapped without pickles: an .npy file cannot run code here."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a NumPy array file ({str(exc).splitlines()[0]})") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{path}: expected a 2-D array of numbers (items x dimensions), got shape {getattr(array, 'shape', '?')}")
    if array.shape[0] != n_items:
        raise InputError(f"{path}: {array.shape[0]} rows, but i_id_mapping.csv has {n_items} items (row i is itemID i)")
    _check_finite(array, path)
    return np.asarray(array, dtype=np.float32)


def _mmrec_inputs(raw: Path | None, options: MMRecOptions) -> list[Path]:
    assert raw is not None
    return list(_mmrec_files(raw, options).values())


register_source(Source("mmrec", MMRecOptions, build_mmrec, raw="required", has_interactions=True,
                       description="MMRec's multimodal datasets (Amazon Baby/Sports/Clothing: x_label split, image/text features)",
                       inputs=_mmrec_inputs))  # fmt: skip
