"""Integer-coded view of a split: what models and the evaluator work on.

User and item vocabularies are sorted raw ids; index ``i`` of ``user_ids`` is row ``i`` of every
matrix. Items come from the catalogue (``.item`` file) when one is given, so items that never
occur in training (cold items) still have a column and can be ranked by content-aware models.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cl.data._split import PARTS, Split
from recsys_cl.errors import InputError


@dataclasses.dataclass(frozen=True)
class EncodedSplit:
    """CSR user x item matrices (float32 interaction counts) for train / valid / test."""

    protocol: str
    user_ids: np.ndarray  # (n_users,) str, sorted
    item_ids: np.ndarray  # (n_items,) str, sorted
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    train_last_time: sp.csr_matrix  # latest train timestamp (Unix s) per user-item pair
    split: Split

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def part(self, name: str) -> sp.csr_matrix:
        if name not in PARTS:
            raise InputError(f"unknown split part {name!r}; expected one of {', '.join(PARTS)}")
        return getattr(self, name)

    def user_index(self, ids: Iterable[str]) -> np.ndarray:
        return _index(self.user_ids, ids, "user")

    def item_index(self, ids: Iterable[str]) -> np.ndarray:
        return _index(self.item_ids, ids, "item")

    def eval_users(self, part: str = "test") -> np.ndarray:
        """Indices of users with at least one interaction in ``part``."""
        return np.flatnonzero(np.diff(self.part(part).indptr) > 0)

    @classmethod
    def from_split(cls, split: Split, items: pl.DataFrame | None = None) -> "EncodedSplit":
        frames = [split.part(p) for p in PARTS]
        # Vocabularies: sorted distinct ids of every part (and of the catalogue), by polars; UTF-8
        # byte order is code point order, so they are sorted exactly as np.sort sorts them.
        users = _vocabulary([f["user_id"] for f in frames])
        items_vocab = _vocabulary([f["item_id"] for f in frames] + ([items["item_id"]] if items is not None else []))
        user_ids, item_ids = users.to_numpy().astype(str), items_vocab.to_numpy().astype(str)
        shape = (len(user_ids), len(item_ids))
        user_table, item_table = _position_table(users), _position_table(items_vocab)

        mats = {}
        for name, frame in zip(PARTS, frames):
            u = _positions(frame["user_id"], user_table, "user")
            i = _positions(frame["item_id"], item_table, "item")
            if name == "train":
                mats[name], last_time = pair_matrices(u, i, shape, frame["timestamp"].to_numpy())
            else:
                mats[name], _ = pair_matrices(u, i, shape)
            del u, i
        return cls(split.protocol, user_ids, item_ids, mats["train"], mats["valid"], mats["test"], last_time, split)


def pair_matrices(
    u: np.ndarray, i: np.ndarray, shape: tuple[int, int], t: np.ndarray | None = None
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """CSR of interaction counts per (u, i) pair (float32) and, given times ``t``, of each pair's latest
    time, both canonical (rows in order, sorted columns, no duplicates) and on the same pairs.

    One multi-threaded polars sort of the 64-bit pair keys, then run lengths and run maxima: at H&M's
    29M training rows a polars group-by on (u, i) for the latest times held hash tables of about 140
    bytes a row, and SciPy's COO conversion is single-threaded.
    """
    n_users, n_items = shape
    frame = pl.DataFrame({"k": u.astype(np.int64) * n_items + i, **({"t": t} if t is not None else {})}).sort("k")
    keys = frame["k"].to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, np.int64)
    pair_keys = keys[starts]
    index_dtype = np.int32 if max(shape) < 2**31 and len(keys) < 2**31 else np.int64  # what SciPy would choose
    columns = (pair_keys % n_items).astype(index_dtype)
    indptr = np.zeros(n_users + 1, dtype=index_dtype)
    np.cumsum(np.bincount(pair_keys // n_items, minlength=n_users), out=indptr[1:])
    counts = np.diff(np.append(starts, len(keys))).astype(np.float32)
    count_matrix = sp.csr_matrix((counts, columns, indptr), shape=shape)
    if t is None:
        return count_matrix, None
    # fmax: a NaN time is ignored as polars' max ignores it
    latest = np.fmax.reduceat(frame["t"].to_numpy(), starts) if len(starts) else np.zeros(0, dtype=t.dtype)
    return count_matrix, sp.csr_matrix((latest, columns.copy(), indptr.copy()), shape=shape)


def _vocabulary(columns: list[pl.Series]) -> pl.Series:
    """Sorted distinct strings of ``columns`` (str or categorical): distinct per column first, so a
    categorical column of millions of rows is never turned into strings."""
    return pl.concat([c.unique().cast(pl.Utf8).rename("id") for c in columns]).unique().sort()


def _position_table(vocab: pl.Series) -> pl.DataFrame:
    """``id`` -> ``_pos`` (its index in the sorted vocabulary ``vocab``), for joins."""
    return pl.DataFrame({"id": vocab.cast(pl.Utf8), "_pos": np.arange(len(vocab), dtype=np.int64)})


def _positions(ids: pl.Series, table: pl.DataFrame, kind: str) -> np.ndarray:
    """Index of each of ``ids`` in the vocabulary of ``table``; unknown or missing ids are an error.

    Categorical ids (what ``Split.read`` returns) are looked up once per distinct value and mapped
    through their integer codes; only string ids are joined row by row (a hash join on 64-character
    customer ids costs GBs at H&M's 31.8M rows).
    """
    if isinstance(ids.dtype, pl.Categorical):
        distinct = ids.unique()
        pos = _positions(distinct.cast(pl.Utf8), table, kind)
        code = distinct.to_physical().to_numpy()
        by_code = np.zeros(int(code.max()) + 1 if len(code) else 0, dtype=np.int64)
        by_code[code] = pos
        return by_code[ids.to_physical().to_numpy()]
    pos = ids.cast(pl.Utf8).rename("id").to_frame().join(table, on="id", how="left", maintain_order="left")["_pos"]
    if pos.null_count():
        unknown = ids.filter(pos.is_null())
        raise InputError(f"unknown {kind} id {unknown[0]!r} ({len(unknown)} unknown in all)")
    return pos.to_numpy()


def _index(vocab: np.ndarray, ids: Iterable[str] | pl.Series, kind: str) -> np.ndarray:
    if isinstance(ids, pl.Series) and (len(ids) > _JOIN_ABOVE or isinstance(ids.dtype, pl.Categorical)):
        return _positions(ids, _position_table(pl.Series(vocab, dtype=pl.Utf8)), kind)
    ids = ids.to_numpy() if isinstance(ids, pl.Series) else ids
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(str)
    pos = np.searchsorted(vocab, ids)
    pos_clipped = np.minimum(pos, len(vocab) - 1)
    bad = (pos >= len(vocab)) | (vocab[pos_clipped] != ids)
    if bad.any():
        raise InputError(f"unknown {kind} id {str(ids[bad][0])!r} ({int(bad.sum())} unknown in all)")
    return pos


#: ids looked up by a join above this many (a fixed-width NumPy copy of 25M customer ids is 6.4 GB)
_JOIN_ABOVE = 100_000
