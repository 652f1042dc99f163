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
        user_ids = np.sort(pl.concat([f.select("user_id") for f in frames])["user_id"].unique().to_numpy()).astype(str)
        item_source = [f.select("item_id") for f in frames]
        if items is not None:
            item_source.append(items.select("item_id"))
        item_ids = np.sort(pl.concat(item_source)["item_id"].unique().to_numpy()).astype(str)
        shape = (len(user_ids), len(item_ids))

        def coded(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            return (
                np.searchsorted(user_ids, frame["user_id"].to_numpy().astype(str)),
                np.searchsorted(item_ids, frame["item_id"].to_numpy().astype(str)),
            )

        mats = {}
        for name, frame in zip(PARTS, frames):
            u, i = coded(frame)
            m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=shape)
            m.sum_duplicates()
            mats[name] = m
        u, i = coded(split.train)
        t = split.train["timestamp"].to_numpy()
        # max timestamp per pair: sort by time so the last write per (u, i) wins in COO->CSR via lexsort
        order = np.lexsort((t, i, u))
        u, i, t = u[order], i[order], t[order]
        last = np.ones(len(u), dtype=bool)
        if len(u) > 1:
            last[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
        last_time = sp.csr_matrix((t[last], (u[last], i[last])), shape=shape)
        return cls(split.protocol, user_ids, item_ids, mats["train"], mats["valid"], mats["test"], last_time, split)


def _index(vocab: np.ndarray, ids: Iterable[str], kind: str) -> np.ndarray:
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(str)
    pos = np.searchsorted(vocab, ids)
    pos_clipped = np.minimum(pos, len(vocab) - 1)
    bad = (pos >= len(vocab)) | (vocab[pos_clipped] != ids)
    if bad.any():
        raise InputError(f"unknown {kind} id {str(ids[bad][0])!r} ({int(bad.sum())} unknown in all)")
    return pos
