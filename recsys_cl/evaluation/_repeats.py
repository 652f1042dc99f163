"""Repeat purchases and the two evaluation modes: training items excluded from the lists, or not.

``exclude_seen=True`` (``loo``, ``cold-item``): a user's training items are never recommended, so a
test purchase that repeats one can never be hit; :func:`exclusion_ceiling` is the best any such list
can score. ``exclude_seen=False`` (``temporal``, the H&M competition's rule): repurchases count.
:func:`repeat_share` says how much is at stake: the share of a part's (user, item) pairs that repeat
one of the user's training items.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from recsys_cl.data import PROTOCOLS, EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.evaluation._metrics import compute_metrics, hit_matrix

#: the mode of each protocol when a config or command does not say: the competition's rule for temporal
DEFAULT_EXCLUDE_SEEN = {"loo": True, "temporal": False, "cold-item": True, "given": True}


def default_exclude_seen(protocol: str) -> bool:
    if protocol not in DEFAULT_EXCLUDE_SEEN:
        raise InputError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return DEFAULT_EXCLUDE_SEEN[protocol]


def _pattern(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The (user, item) pairs of ``matrix`` as a 0/1 CSR (repeated rows of one pair count once)."""
    pairs = sp.csr_matrix(matrix, copy=True)
    pairs.sum_duplicates()
    pairs.eliminate_zeros()
    pairs.data = np.ones_like(pairs.data)
    return pairs


def _part_and_repeats(encoded: EncodedSplit, part: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    relevant = _pattern(encoded.part(part))
    repeats = relevant.multiply(_pattern(encoded.train)).tocsr()
    repeats.eliminate_zeros()
    return relevant, repeats


def repeat_share(encoded: EncodedSplit, part: str = "test") -> float:
    """Share of the distinct (user, item) pairs of ``part`` that are also in the user's training part
    (NaN for an empty part). Under ``exclude_seen=True`` these pairs can never be hit."""
    relevant, repeats = _part_and_repeats(encoded, part)
    return repeats.nnz / relevant.nnz if relevant.nnz else float("nan")


def exclusion_ceiling(
    encoded: EncodedSplit, metrics: Sequence[str], ks: Sequence[int], part: str = "test"
) -> dict[str, float]:
    """``{"ceiling_<metric>@k": value}``: the mean of each metric over the evaluated users (those with an
    item in ``part``) for the best lists that leave training items out, i.e. each user's non-repeat
    items of ``part`` ranked first. 1.0 everywhere a part has no repeats (HR, MRR); below 1 by the
    users whose every item repeats a training one, and (recall, MAP, nDCG) by the repeats of the rest.
    """
    relevant, repeats = _part_and_repeats(encoded, part)
    eval_users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if eval_users.size == 0:
        raise InputError(f"the {part} part has no interactions: nothing to evaluate")
    kmax = max(ks)
    reachable = (relevant - repeats).tocsr()[eval_users]
    reachable.eliminate_zeros()
    counts = np.diff(reachable.indptr)
    rows = np.repeat(np.arange(len(eval_users)), counts)
    place = np.arange(reachable.nnz) - np.repeat(reachable.indptr[:-1], counts)
    keep = place < kmax
    ideal = np.full((len(eval_users), kmax), -1, dtype=np.int64)
    ideal[rows[keep], place[keep]] = reachable.indices[keep]
    relevant = relevant[eval_users]
    values = compute_metrics(hit_matrix(ideal, relevant), np.diff(relevant.indptr), list(metrics), list(ks))
    return {f"ceiling_{key}": float(v.mean()) for key, v in values.items()}


def drop_seen(items: np.ndarray, users: np.ndarray, train: sp.csr_matrix) -> tuple[np.ndarray, int]:
    """``items`` with each user's training items removed and the rest moved up in order (-1 padding at
    the end), and how many were removed: a list made without exclusion, scored under exclusion."""
    from recsys_cl.evaluation._beyond import in_training

    seen = in_training(items, np.asarray(users), train)
    dropped = int(seen.sum())
    if not dropped:
        return items, 0
    kept = (items >= 0) & ~seen
    order = np.argsort(~kept, axis=1, kind="stable")  # kept places first, each row's order unchanged
    return np.take_along_axis(np.where(kept, items, -1), order, axis=1), dropped
