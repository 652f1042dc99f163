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
        # Vocabularies and codes with polars (sort of the distinct ids, hash join for the codes): the
        # NumPy way (fixed-width string arrays, searchsorted) takes 256 bytes per 64-character customer
        # id and row: 8 GB and about a minute at H&M's 31.8M interactions. UTF-8 byte order is code
        # point order, so the vocabularies are sorted exactly as np.sort sorts them.
        users = pl.concat([f.select(pl.col("user_id").cast(pl.Utf8)) for f in frames])["user_id"].unique().sort()
        item_source = [f.select(pl.col("item_id").cast(pl.Utf8)) for f in frames]
        if items is not None:
            item_source.append(items.select(pl.col("item_id").cast(pl.Utf8)))
        items_vocab = pl.concat(item_source)["item_id"].unique().sort()
        user_ids, item_ids = users.to_numpy().astype(str), items_vocab.to_numpy().astype(str)
        shape = (len(user_ids), len(item_ids))
        user_code = pl.DataFrame({"user_id": users, "_u": np.arange(len(users), dtype=np.int64)})
        item_code = pl.DataFrame({"item_id": items_vocab, "_i": np.arange(len(items_vocab), dtype=np.int64)})

        def coded(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            ids = frame.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
            both = ids.join(user_code, on="user_id", how="left", maintain_order="left").join(
                item_code, on="item_id", how="left", maintain_order="left"
            )
            return both["_u"].to_numpy(), both["_i"].to_numpy()

        mats, codes = {}, {}
        for name, frame in zip(PARTS, frames):
            u, i = codes[name] = coded(frame)
            m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=shape)
            m.sum_duplicates()
            mats[name] = m
        u, i = codes["train"]
        # latest train timestamp per (user, item) pair: a group-by on the integer codes
        last = (
            pl.DataFrame({"u": u, "i": i, "t": split.train["timestamp"].to_numpy()})
            .group_by("u", "i")
            .agg(pl.col("t").max())
        )
        last_time = sp.csr_matrix((last["t"].to_numpy(), (last["u"].to_numpy(), last["i"].to_numpy())), shape=shape)
        return cls(split.protocol, user_ids, item_ids, mats["train"], mats["valid"], mats["test"], last_time, split)


def _index(vocab: np.ndarray, ids: Iterable[str] | pl.Series, kind: str) -> np.ndarray:
    if isinstance(ids, pl.Series) and len(ids) > _JOIN_ABOVE:
        return _index_by_join(vocab, ids.cast(pl.Utf8), kind)
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


def _index_by_join(vocab: np.ndarray, ids: pl.Series, kind: str) -> np.ndarray:
    table = pl.DataFrame({"id": pl.Series(vocab, dtype=pl.Utf8), "_pos": np.arange(len(vocab), dtype=np.int64)})
    pos = ids.to_frame("id").join(table, on="id", how="left", maintain_order="left")["_pos"]
    if pos.null_count():
        unknown = ids.filter(pos.is_null())
        raise InputError(f"unknown {kind} id {unknown[0]!r} ({len(unknown)} unknown in all)")
    return pos.to_numpy()
