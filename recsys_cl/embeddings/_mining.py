"""Training examples for the contrastive learners: neighbour pairs (faiss), attribute triplets,
co-purchase pairs, and the per-dataset attribute table they and the quality metrics share."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np
import polars as pl

from recsys_cl.errors import InputError

#: Which item columns play which role, per dataset shape. ``type`` is the product type, ``related``
#: groups related types (semi-hard negatives come from there), ``group`` the broad product group
#: (easy negatives come from another one), ``gender`` the audience (H&M has none: index_group_name is
#: its proxy), ``category`` the query's own category for Recall_subset@K.
ATTRIBUTE_TABLE: dict[str, dict[str, str]] = {
    "styles": {
        "type": "articleType",
        "related": "subCategory",
        "group": "masterCategory",
        "colour": "baseColour",
        "gender": "gender",
        "category": "masterCategory",
    },
    "hm": {
        "type": "product_type_name",
        "related": "product_group_name",
        "group": "product_group_name",
        "colour": "colour_group_name",
        "gender": "index_group_name",
        "category": "product_group_name",
    },
}
LEVELS = ("easy", "semi", "hard")


def attribute_roles(columns: Sequence[str]) -> dict[str, str] | None:
    """The ATTRIBUTE_TABLE entry whose columns all exist in ``columns`` (None: no attributes, e.g. ml-100k)."""
    for roles in ATTRIBUTE_TABLE.values():
        if set(roles.values()) <= set(columns):
            return roles
    return None


def _codes(values: Sequence[str]) -> np.ndarray:
    _, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return inverse.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Triplets:
    """Row indices (m,) of anchor, positive and negative items, and each triplet's level name."""

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    level: np.ndarray  # (m,) str in LEVELS

    def __len__(self) -> int:
        return len(self.anchor)

    def subset(self, rows: np.ndarray) -> "Triplets":
        return Triplets(self.anchor[rows], self.positive[rows], self.negative[rows], self.level[rows])

    def as_array(self) -> np.ndarray:
        return np.stack([self.anchor, self.positive, self.negative], axis=1)


def attribute_triplets(
    items: pl.DataFrame,
    roles: Mapping[str, str],
    rng: np.random.Generator,
    *,
    level_mix: Mapping[str, float] | None = None,
    per_anchor: int = 1,
) -> Triplets:
    """Paper 000's triplets from product context, differing in colour and gender as in its table.

    Positive: same type, colour and gender (other item; same type and colour if no such item).
    Negatives by level — hard: same type, other colour (same gender where possible); semi: related
    type (same ``related`` group, else same ``group``, other type); easy: another ``group`` (and
    other gender where possible). ``level_mix`` gives each level's share of anchors (default equal).
    """
    mix = dict(level_mix or {level: 1.0 for level in LEVELS})
    if set(mix) - set(LEVELS) or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise InputError(f"triplet level mix {mix}: keys must be among {LEVELS} with non-negative shares")
    levels = np.array(sorted(mix), dtype=str)
    share = np.array([mix[level] for level in levels], dtype=float)
    share /= share.sum()
    t, rel, grp, col, gen = (_codes(items[roles[r]].to_list()) for r in ("type", "related", "group", "colour", "gender"))
    n = len(t)

    def pick(candidates: np.ndarray, prefer: np.ndarray | None = None) -> int:
        if prefer is not None and prefer.any():
            candidates = candidates & prefer
        where = np.flatnonzero(candidates)
        return int(rng.choice(where)) if len(where) else -1

    out: dict[str, list] = {"a": [], "p": [], "n": [], "l": []}
    not_self = np.ones(n, dtype=bool)
    for a in rng.permutation(n):
        not_self[a] = False
        same_type, same_col, same_gen = t == t[a], col == col[a], gen == gen[a]
        positive = pick(same_type & same_col & not_self, same_gen)
        if positive >= 0:
            for level in rng.choice(levels, size=per_anchor, p=share):
                if level == "hard":
                    negative = pick(same_type & ~same_col, same_gen)
                elif level == "semi":
                    other_type = ~same_type & not_self
                    negative = pick(other_type & (rel == rel[a]))
                    if negative < 0:
                        negative = pick(other_type & (grp == grp[a]))
                else:
                    negative = pick(grp != grp[a], ~same_gen)
                if negative >= 0:
                    out["a"].append(a), out["p"].append(positive), out["n"].append(negative), out["l"].append(level)
        not_self[a] = True
    return Triplets(
        np.asarray(out["a"], dtype=np.int64),
        np.asarray(out["p"], dtype=np.int64),
        np.asarray(out["n"], dtype=np.int64),
        np.asarray(out["l"], dtype=str),
    )


def neighbour_pairs(vectors: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paper 001, approach 2: each item's top-``k`` most cosine-similar items (faiss, exact) are its
    positives; one negative per positive pair drawn uniformly from items outside those k and itself.

    Returns positive pairs (m, 2) and negative pairs (m, 2) sharing the anchors.
    """
    import faiss

    n = len(vectors)
    if n < k + 2:
        raise InputError(f"neighbour pairs: {n} items is too few for k={k} neighbours plus a negative")
    unit = np.ascontiguousarray(_normalise(vectors))
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    _, found = index.search(unit, k + 1)  # includes the item itself (usually first)
    anchors, positives, negatives = [], [], []
    for a in range(n):
        near = [int(j) for j in found[a] if j != a and j >= 0][:k]
        banned = set(near) | {a}
        for j in near:
            # n >= k + 2 leaves at least one item outside ``banned``
            neg = draw_excluding(n, banned.__contains__, lambda: np.fromiter(banned, dtype=np.int64), rng)
            anchors.append(a), positives.append(j), negatives.append(neg)
    anchors_arr = np.asarray(anchors, dtype=np.int64)
    return (
        np.stack([anchors_arr, np.asarray(positives, dtype=np.int64)], axis=1),
        np.stack([anchors_arr, np.asarray(negatives, dtype=np.int64)], axis=1),
    )


def copurchase_pairs(
    inter: pl.DataFrame,
    item_ids: np.ndarray,
    rng: np.random.Generator,
    *,
    window_days: float = 7.0,
    max_lag: int = 5,
    max_pairs: int = 200_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Paper 001, approach 1: two different items bought by one customer within ``window_days`` are a
    positive pair (each purchase is paired with its next ``max_lag`` purchases, which bounds the cost
    for heavy buyers). Negatives: random item pairs never seen as positives. Returns (m, 2) each.
    """
    ids = np.asarray(item_ids).astype(str)
    row_of = {iid: r for r, iid in enumerate(ids.tolist())}
    frame = (
        inter.select("user_id", pl.col("item_id").cast(pl.String), "timestamp")  # split files read ids as Categorical
        .filter(pl.col("item_id").is_in(list(row_of)))
        .with_columns(pl.col("item_id").replace_strict(row_of, return_dtype=pl.Int64).alias("row"))
        .sort(["user_id", "timestamp"], maintain_order=True)
    )
    parts = []
    for lag in range(1, max_lag + 1):
        parts.append(
            frame.select(
                pl.col("row").alias("a"),
                pl.col("row").shift(-lag).over("user_id").alias("b"),
                (pl.col("timestamp").shift(-lag).over("user_id") - pl.col("timestamp")).alias("dt"),
            ).filter(pl.col("b").is_not_null() & (pl.col("a") != pl.col("b")) & (pl.col("dt") <= window_days * 86400))
        )
    pairs = pl.concat(parts).select(
        pl.min_horizontal("a", "b").alias("a"), pl.max_horizontal("a", "b").alias("b")
    ).unique().sort(["a", "b"])
    positive = pairs.to_numpy().astype(np.int64).reshape(-1, 2)
    if len(positive) > max_pairs:
        positive = positive[np.sort(rng.choice(len(positive), max_pairs, replace=False))]
    n = len(row_of)
    seen = set(map(tuple, positive.tolist()))
    negatives = []
    for a, _ in positive.tolist():
        # the lambdas run within this iteration, so ``a`` is this anchor
        b = draw_excluding(n, lambda b: b == a or (min(a, b), max(a, b)) in seen, lambda: _partners(positive, a), rng)
        if b < 0:
            bought_with = len(_partners(positive, a)) - 1
            raise InputError(
                f"co-purchase pairs: item {ids[a]} was bought together with all {bought_with} other items "
                f"of the {n} considered, so no negative (an item never bought with it) can be drawn; "
                f"need at least {bought_with + 2} items, found {n}"
            )
        negatives.append((a, b))
    return positive, np.asarray(negatives, dtype=np.int64).reshape(-1, 2)


#: rejection draws tried before drawing from the explicit complement. Far above what real data needs
#: (at an acceptance rate of 1/2, 64 misses in a row have probability 5e-20), so the draws, and the
#: embeddings, stay those of plain rejection sampling; a catalogue where few or no items are allowed
#: no longer spins (issue 12: two co-purchased items with images looped forever).
REJECTION_TRIES = 64


def draw_excluding(
    n: int, banned: Callable[[int], bool], banned_rows: Callable[[], np.ndarray], rng: np.random.Generator
) -> int:
    """A uniform draw from ``range(n)`` outside ``banned`` (-1 when every row is banned).

    Up to REJECTION_TRIES rejection draws, then one draw among the allowed rows, which
    ``banned_rows()`` (every banned row) lists only then: a bounded loop either way.
    """
    for _ in range(REJECTION_TRIES):
        b = int(rng.integers(n))
        if not banned(b):
            return b
    allowed = np.ones(n, dtype=bool)
    allowed[banned_rows()] = False
    rows = np.flatnonzero(allowed)
    return int(rng.choice(rows)) if len(rows) else -1


def _partners(pairs: np.ndarray, a: int) -> np.ndarray:
    """``a`` and every row paired with it in ``pairs`` (m, 2), once each."""
    return np.unique(np.concatenate([[a], pairs[pairs[:, 0] == a, 1], pairs[pairs[:, 1] == a, 0]]))


def split_rows(n: int, heldout_share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` examples into (train rows, held-out rows)."""
    order = rng.permutation(n)
    n_held = int(round(n * heldout_share))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
