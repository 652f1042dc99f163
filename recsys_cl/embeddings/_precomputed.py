"""Item vectors computed elsewhere (CLIP or FashionCLIP on a GPU, a shop's own encoder, a dataset's
feature files), read and checked so they enter models, tuning and reports like learned ones.

Two layouts: a ``.npy`` matrix (n, d) with an ids file (one id per line, row i of the matrix is line
i + 1), or a Parquet file with an id column and a vector column (a list of numbers per row). Refused,
with the file and row (or line) named: a matrix that is not 2-D or not real numbers, a row count that
differs from the id count, rows of different lengths, a missing (null) id or vector, a value that is
not finite, an id given twice. ``.npy`` files are read with ``allow_pickle=False``: a file cannot run code.

:func:`read_item_vectors` reads (any source can reuse it, e.g. a dataset's feature files);
:func:`align_item_vectors` matches the vectors to a catalogue; the ``precomputed`` learner does both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.embeddings._options import EmbedOptions
from recsys_cl.errors import InputError
from recsys_cl.files import read_text

Missing = Literal["refuse", "zero"]


def read_item_vectors(
    path: str | Path,
    *,
    ids: str | Path | Sequence[str] | None = None,
    id_column: str = "item_id",
    vector_column: str = "vector",
    method: str = "precomputed",
) -> ItemEmbeddings:
    """The vectors of ``path`` as float32 :class:`ItemEmbeddings` (ids as strings), checked.

    ``.npy``: ``ids`` is the ids file (one per line) or the ids themselves, in row order. ``.parquet``:
    ``id_column`` and ``vector_column`` name the columns (``ids`` must not be given).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: vector file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if ids is None:
            raise InputError(f"{path}: a .npy matrix needs an ids file (ids: one item id per line, in row order)")
        vectors = _read_npy(path)
        item_ids, id_place = _read_ids(ids, len(vectors), path)
    elif suffix == ".parquet":
        if ids is not None:
            raise InputError(f"{path}: a Parquet file carries its ids in id_column ({id_column!r}); drop ids")
        item_ids, vectors = _read_parquet(path, id_column, vector_column)
        id_place = None
    else:
        suffix_text = path.suffix or "no suffix"
        raise InputError(f"{path}: expected a .npy matrix (with an ids file) or a .parquet file, not {suffix_text}")

    def where(row: int) -> str:
        return id_place[row] if id_place is not None else f"{path}: row {row}"

    _check_finite(vectors, item_ids, where)
    _check_unique(item_ids, where)
    return ItemEmbeddings(np.asarray(item_ids, dtype=str), vectors, method)


def _read_npy(path: Path) -> np.ndarray:
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused, they could run code
        raise InputError(f"{path}: not a plain numeric .npy matrix ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as .npy ({exc})") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix (items x dimensions), got shape {getattr(matrix, 'shape', '?')}")
    if matrix.dtype.kind not in "fiu":
        raise InputError(f"{path}: expected real numbers, got dtype {matrix.dtype}")
    if matrix.shape[1] == 0:
        raise InputError(f"{path}: vectors have no dimensions (shape {matrix.shape})")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, refused by the finiteness check
        return matrix.astype(np.float32, copy=False)


def _read_ids(ids: str | Path | Sequence[str], n_rows: int, matrix: Path) -> tuple[list[str], list[str] | None]:
    """(ids, where each row's id came from) for a .npy matrix of ``n_rows`` rows."""
    if isinstance(ids, (str, Path)):
        ids_path = Path(ids)
        text = read_text(ids_path, "ids file")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the last line's end
        values = [line.removesuffix("\r") for line in lines]
        for number, value in enumerate(values, start=1):
            if not value.strip():
                raise InputError(f"{ids_path}:{number}: empty id")
        if len(values) != n_rows:
            raise InputError(f"{ids_path}: {len(values)} ids for the {n_rows} rows of {matrix}")
        return values, [f"{matrix}: row {r} ({ids_path}:{r + 1})" for r in range(n_rows)]
    values = [str(v) for v in ids]
    if len(values) != n_rows:
        raise InputError(f"{matrix}: {n_rows} rows for {len(values)} ids")
    return values, None


def _read_parquet(path: Path, id_column: str, vector_column: str) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet ({exc})") from None
    missing = [c for c in (id_column, vector_column) if c not in schema.names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {', '.join(schema.names)}); set id_column / vector_column")
    try:
        table = pq.read_table(path, columns=[id_column, vector_column])
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet ({exc})") from None
    id_array = table.column(id_column).combine_chunks()
    if id_array.null_count:
        raise InputError(f"{path}: row {_first_null(id_array)}: {id_column} is missing (null)")
    if not (pa.types.is_string(id_array.type) or pa.types.is_large_string(id_array.type) or pa.types.is_integer(id_array.type)):
        raise InputError(f"{path}: {id_column} must hold strings or integers, not {id_array.type}")
    item_ids = [str(v) for v in id_array.to_pylist()]
    column = table.column(vector_column).combine_chunks()
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise InputError(f"{path}: {vector_column} must hold a list of numbers per row, not {kind}")
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise InputError(f"{path}: {vector_column} must hold numbers, not {kind.value_type}")
    if column.null_count:
        row = _first_null(column)
        raise InputError(f"{path}: row {row} (id {item_ids[row]!r}): no vector (null)")
    if len(column) == 0:
        raise InputError(f"{path}: no rows")
    if pa.types.is_fixed_size_list(kind):
        lengths = np.full(len(column), kind.list_size)
    else:
        lengths = np.diff(column.offsets.to_numpy())
    if lengths[0] == 0 or (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0]) if lengths[0] else 0
        raise InputError(f"{path}: row {row} (id {item_ids[row]!r}): {lengths[row]} values, row 0 has {lengths[0]}"
                         if row else f"{path}: row 0 (id {item_ids[0]!r}): an empty vector")  # fmt: skip
    values = column.flatten()
    if values.null_count:
        row = int(np.searchsorted(np.cumsum(lengths), _first_null(values), side="right"))
        raise InputError(f"{path}: row {row} (id {item_ids[row]!r}): a value is missing (null)")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, refused by the finiteness check
        matrix = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(column), int(lengths[0]))
    return item_ids, matrix


def _first_null(array) -> int:
    return int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])


def _check_finite(vectors: np.ndarray, item_ids: list[str], where) -> None:
    finite = np.isfinite(vectors).all(axis=1)  # float32 after conversion: values too large for it are inf here
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        column = int(np.flatnonzero(~np.isfinite(vectors[row]))[0])
        raise InputError(f"{where(row)} (id {item_ids[row]!r}): value {vectors[row, column]} at position {column} is not "
                         "finite (as float32)")  # fmt: skip


def _check_unique(item_ids: list[str], where) -> None:
    first: dict[str, int] = {}
    for row, item in enumerate(item_ids):
        if item in first:
            raise InputError(f"{where(row)}: id {item!r} given twice (first at row {first[item]})")
        first[item] = row


@dataclasses.dataclass(frozen=True)
class Alignment:
    """How file vectors met a catalogue: ``n_matched`` items got their vector, ``n_zero_filled`` got a zero
    vector (``missing: zero``), ``n_unused`` file rows name no catalogue item (e.g. filtered out by k-core)."""

    n_matched: int
    n_zero_filled: int
    n_unused: int


def align_item_vectors(
    emb: ItemEmbeddings, catalogue: Sequence[str] | np.ndarray, *, missing: Missing = "refuse", where: str = "item vectors"
) -> tuple[np.ndarray, Alignment]:
    """(len(catalogue), d) rows in catalogue order; an item without a vector is refused, or (``missing="zero"``)
    gets a zero row, counted."""
    catalogue = np.asarray(catalogue).astype(str)
    rows, has = emb.aligned(catalogue)
    absent = catalogue[~has]
    if len(absent) and missing != "zero":
        raise InputError(f"{where}: {len(absent)} of the {len(catalogue)} catalogue items have no vector "
                         f"(first: {str(absent[0])!r}); give every item a vector, or set missing: zero to zero-fill them "
                         "(counted in the quality record)")  # fmt: skip
    n_unused = len(emb.item_ids) - int(np.isin(emb.item_ids, catalogue).sum())
    return rows, Alignment(int(has.sum()), int(len(absent)), n_unused)


class PrecomputedOptions(EmbedOptions):
    """precomputed: vectors read from files instead of learned (see ``_precomputed``)."""

    file: str = Field(..., description="a .npy matrix (with ids) or a .parquet file with id and vector columns")
    ids: str | None = Field(None, description=".npy: file of item ids, one per line, in row order")
    id_column: str = Field("item_id", description=".parquet: the column of item ids")
    vector_column: str = Field("vector", description=".parquet: the column of vectors (a list of numbers per row)")
    missing: Missing = Field("refuse", description="catalogue items without a vector: refuse, or zero (a zero vector, counted)")

    def input_files(self) -> list[Path]:
        """The files whose contents decide the vectors (fingerprinted like a dataset's raw files)."""
        return [Path(self.file)] + ([Path(self.ids)] if self.ids is not None else [])
