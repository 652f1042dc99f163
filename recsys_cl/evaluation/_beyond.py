"""Beyond-accuracy metrics: what the top-K lists recommend, whatever the users bought afterwards.

Run level (one value per run and cutoff, in the summary only; RecBole's definitions):

* ``coverage@k`` = share of the catalogue's items that are in at least one top-``k`` list (ItemCoverage);
* ``gini@k``     = Gini index of exposure: items sorted by how many top-``k`` slots they fill, never
  recommended items included with 0, ``sum_i (2i - n - 1) x_(i) / (n sum_i x_i)`` (GiniIndex): 0 when
  every item fills as many slots, towards 1 when a few items fill them all.

Per user (kept in ``EvaluationResult.per_user`` so the paired significance tests apply). Each is a
mean over the user's recommended (non-padding) items of the top ``k``, so a user whose list is empty
(no list in the rankings) has no value: NaN, left out of the means.

* ``novelty@k``        = mean self-information ``-log2 p(i)`` of the recommended items, ``p(i)`` = the
  share of training users (users with at least one training interaction) who interacted with ``i``
  in training (Zhou et al., PNAS 2010). An item never seen in training counts as seen by one user
  (``log2 |U_train|``, the largest value a seen item can have) rather than as infinitely novel.
* ``avg_popularity@k`` = mean number of training interactions (rows, repeats included) of the
  recommended items (AveragePopularity).
* ``tail_share@k``     = share of recommended items in the long tail (TailPercentage): with
  ``tail_ratio`` in (0, 1], the ``max(1, floor(ratio * n))`` least-interacted of the ``n`` items seen in
  training, ties by lower item index (ids in sorted order); with ``tail_ratio`` > 1, the items seen in
  training at most ``tail_ratio`` times. Items never seen in training are not tail items, as in
  RecBole (``cold_share`` counts them).
* ``seen_share@k``     = share of recommended items the user had in training (repeat items): 0 wherever
  seen items are excluded; informative where repurchases may be recommended (temporal,
  ``exclude_seen: false``). Per user, so its summary is a mean over users, not over list places.
* ``diversity@k``      = intra-list diversity by an item attribute (e.g. ``product_type_name``): the
  share of pairs of recommended items whose values differ; items without a value (not in the item
  table, or an empty value) are left out of the pairs.
* ``embedding_diversity@k`` = mean pairwise cosine distance ``1 - cos`` of the recommended items'
  vectors; items without a vector (or with a zero vector) are left out of the pairs.

The two diversities need two recommended items with a value; a user with fewer has NaN.

RecBole's AveragePopularity and TailPercentage divide by the position ``k`` rather than by the number
of recommended items; the two agree on full lists (RecBole's lists are always full). Agreement on
the same top-K is tested in tests/evaluation/test_beyond.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recsys_cl.errors import InputError

if TYPE_CHECKING:
    from recsys_cl.embeddings import ItemEmbeddings

#: users whose embedding sums are held at once (at d = 128: 64 MB of float32)
_USER_BLOCK = 1 << 17
#: users whose training keys are searched together (their slice of keys stays in cache)
_SEARCH_BLOCK = 4096
#: users whose per-position sums and codes are worked on together (a few MB: they stay in cache)
_SLOT_BLOCK = 1 << 16


class BeyondAccuracyConfig(BaseModel):
    """Options of the beyond-accuracy metrics that are not data."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    diversity_attribute: str | None = Field(
        None, description="item-table column for diversity@k (intra-list diversity), e.g. product_type_name"
    )
    tail_ratio: float = Field(
        0.1, gt=0, description="RecBole's tail_ratio: share of training items in the tail if <= 1, else a count ceiling"
    )


# ---------------------------------------------------------------------------------------------- inputs
def check_attribute(item_table: pl.DataFrame | None, attribute: str, where: str = "the item table") -> None:
    """Raise a one-line :class:`InputError` unless ``item_table`` has ``item_id`` and a single-valued ``attribute``."""
    if item_table is None:
        raise InputError(f"diversity attribute {attribute!r}: no item table to read it from ({where} is missing)")
    if "item_id" not in item_table.columns:
        raise InputError(f"diversity attribute {attribute!r}: {where} has no item_id column")
    if attribute not in item_table.columns:
        have = ", ".join(c for c in item_table.columns if c != "item_id")
        raise InputError(f"diversity attribute {attribute!r}: not a column of {where} (have: {have or 'none'})")
    if isinstance(item_table.schema[attribute], (pl.List, pl.Array, pl.Struct)):
        raise InputError(f"diversity attribute {attribute!r}: a sequence column in {where}; name a single-valued one")


def attribute_codes(item_table: pl.DataFrame, attribute: str, item_ids: np.ndarray, where: str = "the item table") -> np.ndarray:
    """Integer code of each item's ``attribute`` value, aligned with ``item_ids`` (n_items,) int32;
    -1 where the item is not in the table or its value is empty or missing."""
    check_attribute(item_table, attribute, where)
    table = item_table.select(pl.col("item_id").cast(pl.Utf8), pl.col(attribute).cast(pl.Utf8).alias("value"))
    duplicated = table.filter(pl.col("item_id").is_duplicated())
    if duplicated.height:
        raise InputError(f"diversity attribute {attribute!r}: item {duplicated['item_id'][0]!r} occurs twice in {where}")
    value = pl.when(pl.col("value").is_null() | (pl.col("value") == "")).then(None).otherwise(pl.col("value"))
    codes = table.select((value.rank("dense") - 1).cast(pl.Int32).fill_null(-1).alias("code"))["code"].to_numpy()
    rows = _rows_of(table["item_id"], item_ids)
    return np.where(rows >= 0, codes[np.maximum(rows, 0)], -1).astype(np.int32)


def unit_vectors(embeddings: ItemEmbeddings, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised vectors aligned with ``item_ids`` (n_items, d) float32, zero rows where an item has
    no vector or a zero one, and a mask of the items that have one."""
    rows = _rows_of(pl.Series(embeddings.item_ids, dtype=pl.Utf8), item_ids)
    has = rows >= 0
    vectors = np.zeros((len(item_ids), embeddings.dim), dtype=np.float32)
    vectors[has] = embeddings.vectors[rows[has]]
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise InputError(f"item embeddings {embeddings.method}: item {str(item_ids[~finite][0])!r} has a NaN or infinite value")
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    has &= norms > 0
    vectors[has] /= norms[has, None].astype(np.float32)
    return vectors, has


def _rows_of(ids: pl.Series, item_ids: np.ndarray) -> np.ndarray:
    """Position in ``ids`` of each of ``item_ids`` (-1 where absent), by a polars join: ItemEmbeddings.aligned's
    Python dictionary took ~0.2 s for H&M's 105,542 items."""
    table = pl.DataFrame({"item_id": ids.cast(pl.Utf8), "row": np.arange(len(ids), dtype=np.int64)})
    wanted = pl.DataFrame({"item_id": pl.Series(item_ids, dtype=pl.Utf8)})
    return wanted.join(table, on="item_id", how="left", maintain_order="left")["row"].fill_null(-1).to_numpy()


def self_information(train: sp.csr_matrix) -> np.ndarray:
    """``-log2 p(i)`` per item (n_items,), ``p(i)`` = share of training users who had ``i`` (see the module docstring)."""
    train = train.tocsr()
    if not train.has_canonical_format or np.count_nonzero(train.data) < train.nnz:
        train = train.copy()  # one entry per (user, item), and explicit zeros are no interaction
        train.sum_duplicates()
        train.eliminate_zeros()
    users_of_item = np.bincount(train.indices, minlength=train.shape[1])
    n_train_users = int(np.count_nonzero(np.diff(train.indptr)))
    if n_train_users == 0:
        return np.zeros(train.shape[1])
    return np.log2(n_train_users) - np.log2(np.maximum(users_of_item, 1))


def tail_items(popularity: np.ndarray, tail_ratio: float) -> np.ndarray:
    """RecBole's TailPercentage tail set as a mask over items (n_items,), from training interaction counts."""
    seen = np.flatnonzero(popularity > 0)
    mask = np.zeros(len(popularity), dtype=bool)
    if tail_ratio > 1:
        mask[seen[popularity[seen] <= tail_ratio]] = True
    elif seen.size:
        cut = max(int(len(seen) * tail_ratio), 1)
        order = seen[np.lexsort((seen, popularity[seen]))]  # by count, ties by item index
        mask[order[:cut]] = True
    return mask


# ---------------------------------------------------------------------------------------------- run level
def exposure_statistics(
    lists: np.ndarray, n_items: int, groups: Mapping[str, np.ndarray], ks: Sequence[int], *, gini: bool = False
) -> dict[str, float]:
    """``coverage@k``, ``<group>_share@k`` and (``gini``) ``gini@k`` of the top-``k`` lists for every ``k`` in ``ks``.

    ``<group>_share@k`` = share of the recommended (non-padding) top-``k`` slots whose item has
    ``groups[group][item]`` True ("cold" / "rare" by training popularity: how much of what a model
    recommends is new or niche). NaN when nothing was recommended, or when the catalogue is empty.
    One pass over the K columns with running exposure counts, so every cutoff costs only what it adds.
    """
    out: dict[str, float] = {}
    exposure = np.zeros(n_items, dtype=np.int64)
    in_group = {g: 0 for g in groups}
    wanted = set(ks)
    for j in range(max(ks)):
        col = lists[:, j]
        col = col[col >= 0]
        exposure += np.bincount(col, minlength=n_items)
        for g, mask in groups.items():
            in_group[g] += int(np.count_nonzero(mask[col]))
        if j + 1 not in wanted:
            continue
        slots = int(exposure.sum())
        out[f"coverage@{j + 1}"] = float(np.count_nonzero(exposure)) / n_items if n_items else float("nan")
        for g in groups:
            out[f"{g}_share@{j + 1}"] = in_group[g] / slots if slots else float("nan")
        if gini:
            out[f"gini@{j + 1}"] = gini_index(exposure)
    return out


def gini_index(exposure: np.ndarray) -> float:
    """Gini index of non-negative counts (all items, zeros included); NaN when every count is 0."""
    x = np.sort(np.asarray(exposure, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    rank = np.arange(1, n + 1, dtype=np.float64)
    return float(np.dot(2 * rank - n - 1, x) / (n * total))


# ---------------------------------------------------------------------------------------------- per user
def per_user_beyond(
    lists: np.ndarray,
    ks: Sequence[int],
    metrics: Iterable[str],
    *,
    users: np.ndarray | None = None,
    train: sp.csr_matrix | None = None,
    popularity: np.ndarray | None = None,
    novelty_bits: np.ndarray | None = None,
    tail: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per-user values ``{"novelty@10": (n,) float64, ...}`` of the per-user beyond-accuracy ``metrics``.

    ``lists`` (n, K) item indices with -1 padding; each metric needs its input: ``novelty`` the
    per-item ``novelty_bits``, ``avg_popularity`` the training counts ``popularity``, ``tail_share`` the
    ``tail`` mask, ``seen_share`` the lists' ``users`` (rows of ``train``) and ``train``, ``diversity`` the
    attribute ``codes`` (-1 = none), ``embedding_diversity`` ``vectors`` = (unit vectors, has-vector mask).
    """
    metrics = list(metrics)
    kmax = max(ks)
    lists = lists[:, :kmax]
    n = len(lists)
    # Item values are read through an array one longer than the catalogue whose last entry is the
    # "no value" of padding (-1): 0 for the means, -1 for attribute codes.
    slot_values: dict[str, np.ndarray] = {}
    for name, values in (("novelty", novelty_bits), ("avg_popularity", popularity), ("tail_share", tail)):
        if name in metrics:
            if values is None:
                raise InputError(f"{name}: its per-item input was not given")
            slot_values[name] = np.append(np.asarray(values, dtype=np.float64), 0.0)
    seen = None
    if "seen_share" in metrics:
        if train is None or users is None:
            raise InputError("seen_share: the users' training items were not given")
        seen = in_training(lists, users, train)
    code_of_item = None
    if "diversity" in metrics:
        if codes is None:
            raise InputError("diversity: no item attribute was given")
        narrow = np.int16 if len(codes) == 0 or int(codes.max()) < np.iinfo(np.int16).max else np.int32
        code_of_item = np.append(codes, -1).astype(narrow)
    if "embedding_diversity" in metrics and vectors is None:
        raise InputError("embedding_diversity: no item embeddings were given")

    blocked = [*slot_values, *(["seen_share"] if seen is not None else []), *(["diversity"] if code_of_item is not None else [])]
    out = {f"{m}@{k}": np.empty(n) for m in blocked for k in ks}
    # A block of users at a time, positions as contiguous columns (as compute_metrics does): the running
    # sums and the codes of a block stay in cache through the K (and K^2 / 2) passes over them.
    for start in range(0, n, _SLOT_BLOCK):
        rows = slice(start, start + _SLOT_BLOCK)
        columns = np.ascontiguousarray(lists[rows].T)  # (kmax, block)
        values = _slot_means(columns, slot_values, None if seen is None else np.ascontiguousarray(seen[rows].T), ks)
        if code_of_item is not None:
            values.update(_attribute_diversity(code_of_item[columns], ks))
        for key, v in values.items():
            out[key][rows] = v
    if "embedding_diversity" in metrics:
        out.update(_embedding_diversity(lists, *vectors, ks))
    return {f"{m}@{k}": out[f"{m}@{k}"] for k in sorted(ks) for m in metrics}


def _slot_means(
    columns: np.ndarray, slot_values: Mapping[str, np.ndarray], seen: np.ndarray | None, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Means over each user's recommended items of per-item values (``slot_values``: item -> value, padding
    last) and of ``seen`` (kmax, n) flags, at every cutoff; NaN for a user with nothing recommended."""
    n = columns.shape[1]
    n_recommended = np.zeros(n)
    sums = {name: np.zeros(n) for name in slot_values}
    if seen is not None:
        sums["seen_share"] = np.zeros(n)
    wanted = set(ks)
    out = {}
    for j in range(max(ks)):
        col = columns[j]
        n_recommended += col >= 0
        for name, values in slot_values.items():
            sums[name] += values[col]
        if seen is not None:
            sums["seen_share"] += seen[j]
        if j + 1 in wanted:
            for name, total in sums.items():
                out[f"{name}@{j + 1}"] = _divide(total, n_recommended)
    return out


def in_training(lists: np.ndarray, users: np.ndarray, train: sp.csr_matrix) -> np.ndarray:
    """``out[r, j]`` = item ``lists[r, j]`` is in user ``users[r]``'s row of ``train`` (n, K) bool; padding is not.

    Each (user, item) becomes one integer key ``user * n_items + item``; the nonzeros of a canonical CSR
    matrix, so keyed, are sorted, and each block of (ascending) users is searched in the keys of its
    own rows, built block by block so they stay in cache. The evaluator's hit matrix compares every
    relevant item with every ranked one, fine for a few test items per user; training rows are longer
    (200,000 users with ~15 training items each: 0.16 CPU-s that way, 0.08 s by one global search).
    """
    train = train.tocsr()
    if not train.has_sorted_indices:
        train = train.sorted_indices()
    if np.count_nonzero(train.data) < train.nnz:  # explicit zeros are not interactions
        train = train.copy()
        train.eliminate_zeros()
    out = np.zeros(lists.shape, dtype=bool)
    users = users.astype(np.int64)
    if not users.size or not train.nnz:
        return out
    order = np.arange(len(users)) if np.all(users[1:] >= users[:-1]) else np.argsort(users, kind="stable")
    n_items = train.shape[1]
    for start in range(0, len(users), _SEARCH_BLOCK):
        rows = order[start : start + _SEARCH_BLOCK]
        block_users = users[rows]
        first, last = block_users[0], block_users[-1]
        low, high = train.indptr[first], train.indptr[last + 1]
        if high == low:
            continue
        row_of_key = np.repeat(np.arange(first, last + 1, dtype=np.int64), np.diff(train.indptr[first : last + 2]))
        keys = row_of_key * n_items + train.indices[low:high]
        query = block_users[:, None] * n_items + lists[rows]
        found = keys[np.minimum(np.searchsorted(keys, query), len(keys) - 1)] == query
        out[rows] = found & (lists[rows] >= 0)
    return out


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0 (the value is not defined there)."""
    result = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


def _attribute_diversity(code_columns: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """``diversity@k`` from the attribute codes of the lists by position (K, n), -1 = no value.

    Position by position: the pairs the new item forms with the earlier items that have a value, and
    how many of those share its value. K^2 / 2 comparisons of contiguous code vectors over users (no
    per-user Python, no (n, K, K) temporary); narrow codes and counters keep the passes cheap.
    """
    kmax = max(ks)
    has_value = code_columns[:kmax] >= 0
    # "No value" at position j becomes -(j + 1): unequal to every value and to "no value" elsewhere,
    # so one comparison per pair counts exactly the pairs of equal values.
    columns = np.where(has_value, code_columns[:kmax], -np.arange(1, kmax + 1, dtype=code_columns.dtype)[:, None])
    n = columns.shape[1]
    with_value = np.zeros(n, dtype=np.int32)  # earlier items with a value
    pairs = np.zeros(n, dtype=np.int32)
    same = np.zeros(n, dtype=np.int32)
    wanted = set(ks)
    out = {}
    for j in range(kmax):
        current = columns[j]
        pairs += np.where(has_value[j], with_value, 0)
        for earlier in columns[:j]:
            same += earlier == current
        with_value += has_value[j]
        if j + 1 in wanted:
            out[f"diversity@{j + 1}"] = 1.0 - _divide(same.astype(np.float64), pairs.astype(np.float64))
    return out


def _embedding_diversity(lists: np.ndarray, unit: np.ndarray, has: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """``embedding_diversity@k`` = 1 - mean pairwise cosine similarity of the recommended items' unit vectors.

    With unit vectors, the sum of pairwise similarities is ``(|s|^2 - sum_i |v_i|^2) / 2`` for
    ``s`` = the sum of the list's vectors: K vector additions per user instead of K^2 / 2 dot
    products. The sums come from ``torch.nn.functional.embedding_bag`` (a fused gather-and-sum that
    never builds the (n, K, d) gathered array), cutoff segment by cutoff segment, a block of users at a time.
    """
    import torch

    n_items = len(unit)
    table = torch.from_numpy(np.vstack([unit, np.zeros((1, unit.shape[1]), np.float32)]))  # last row: padding
    squared = np.append(np.einsum("ij,ij->i", unit, unit, dtype=np.float64), 0.0)  # |v_i|^2, 1 up to rounding
    index = np.where(lists >= 0, lists, n_items)
    index = np.where(np.append(has, False)[index], index, n_items)  # no vector: the zero row
    cutoffs = sorted(set(ks))
    out = {f"embedding_diversity@{k}": np.empty(len(lists)) for k in cutoffs}
    for start in range(0, len(lists), _USER_BLOCK):
        rows = np.ascontiguousarray(index[start : start + _USER_BLOCK])
        block = torch.from_numpy(rows)
        total = None
        previous = 0
        for k in cutoffs:
            part = torch.nn.functional.embedding_bag(block[:, previous:k], table, mode="sum")
            total = part if total is None else total.add_(part)
            previous = k
            summed = total.numpy()
            norm2 = np.einsum("ij,ij->i", summed, summed, dtype=np.float64)  # float64 sums: exact enough at m ~ 12
            m = np.count_nonzero(rows[:, :k] < n_items, axis=1).astype(np.float64)
            self_sum = squared[rows[:, :k]].sum(axis=1)
            similarity = _divide(norm2 - self_sum, m * (m - 1))
            out[f"embedding_diversity@{k}"][start : start + len(rows)] = 1.0 - similarity
    return out
