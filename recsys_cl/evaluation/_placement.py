"""Where a model places the held-out items in its FULL ranking: the cold-item placement diagnostic.

HR@10 tells whether a held-out item made the top ten; it does not tell whether a model that failed
ranked the new items just below the cut or systematically under every warm item (a score on another
scale). Placement answers that from full rankings (every candidate item of a user, not only the top K):

Per user (kept, aligned with :attr:`Placement.user_ids`):

* ``test_rank``       = median over the user's items of the evaluated part of their 1-based rank among
  the user's candidate items (every item, minus the user's training items when those are excluded).
  Ties count at their mid-rank (``#higher + (#equal + 1) / 2``): a model that gives every new item the
  same floor score is not credited with the tie-break order. An item a model never lists (``-inf``)
  sits at the mid-rank of the unlisted block after every listed item.
* ``test_rank_share`` = ``test_rank / candidates``: about 0.5 for Random, near 1 for a model that ranks
  the held-out items under every warm one, near 0 for one that puts them first.

Run level (the summary): the medians over users of both, ``cold_catalogue_share`` (share of the
catalogue with no training interaction, i.e. what Random's lists hold), ``cold_share@k`` (share of the
top-``k`` slots filled by such items) and ``cold_lift@k`` = their ratio (1: as often as chance, 0: no new
item in any list), and ``new_items_ndcg@k``: nDCG@k of the same lists with every item that has a training
interaction taken out, averaged over the users with a new item in the part. Under cold-item a model gains
both by putting new items above warm ones and by choosing the right new items; this one scores the choice
alone (Random's value is the chance level among new items; Pop has no order among them).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.evaluation._rankings import Rankings

#: the per-user values of a Placement, by name (the names of the per-user score rows), besides
#: ``new_items_ndcg@k`` per cutoff (rows of metric ``new_items_ndcg``, ``k`` its cutoff; only the users with a
#: new item in the part)
PLACEMENT_VALUES = ("test_rank", "test_rank_share")
NEW_ITEMS_NDCG = "new_items_ndcg"


@dataclasses.dataclass(frozen=True)
class Placement:
    """Placement of the evaluated part's items in full rankings (see the module docstring)."""

    part: str
    user_ids: np.ndarray  # (n,) str
    per_user: dict[str, np.ndarray]  # "test_rank" / "test_rank_share" / "new_items_ndcg@k" -> (n,) float64 (NaN: no new item)
    summary: dict[str, float]

    def to_dict(self) -> dict[str, float | None]:
        """The summary, JSON-ready (NaN as None)."""
        return {key: None if np.isnan(value) else value for key, value in self.summary.items()}

    def to_frame(self) -> pl.DataFrame:
        """Long per-user rows in the layout of ``EvaluationResult.to_frame``, ``scope`` placement: ``metric``
        test_rank / test_rank_share with ``k`` 0 (no cutoff: full rankings), and new_items_ndcg with its ``k``
        for the users who have a new item in the part."""
        frames = []
        for key, values in self.per_user.items():
            name, _, k = key.partition("@")
            kept = ~np.isnan(values) if name == NEW_ITEMS_NDCG else np.ones(len(values), dtype=bool)
            n = int(kept.sum())
            frames.append(pl.DataFrame(
                {"user_id": self.user_ids[kept].astype(str), "metric": np.full(n, name), "k": np.full(n, int(k or 0), dtype=np.int32),
                 "value": values[kept].astype(np.float64), "user_segment": np.full(n, ""), "scope": np.full(n, "placement")},
                schema={"user_id": pl.Utf8, "metric": pl.Utf8, "k": pl.Int32, "value": pl.Float64,
                        "user_segment": pl.Utf8, "scope": pl.Utf8},
            ))  # fmt: skip
        return pl.concat(frames)


def placement(
    full_rankings: Iterable[Rankings], encoded: EncodedSplit, part: str = "test", ks: Sequence[int] = (10,),
    exclude_seen: bool = True,
) -> Placement:
    """Placement of ``encoded``'s ``part`` items in ``full_rankings`` (one or several chunks of users, each
    list covering every candidate item: ``recommend(users, k=n_items)``); ``exclude_seen`` says whether
    the lists left each user's training items out (then they are not candidates)."""
    relevant_all = encoded.part(part).tocsr()
    relevant_all.sum_duplicates()
    relevant_all.eliminate_zeros()
    train = encoded.train.tocsr()
    n_items = encoded.n_items
    cold = np.diff(encoded.train.tocsc().indptr) == 0
    users, ranks = [], []
    slots = {k: 0 for k in ks}
    cold_slots = {k: 0 for k in ks}
    new_ndcg: dict[int, list[float]] = {k: [] for k in ks}  # per placed user, NaN without a new item in the part
    discounts = 1.0 / np.log2(np.arange(2, max(ks, default=1) + 2))
    for rankings in full_rankings:
        if rankings.k < n_items:
            raise InputError(f"placement needs full rankings (k = {n_items} items); got k = {rankings.k}")
        for row, user in enumerate(rankings.users):
            wanted = relevant_all.indices[relevant_all.indptr[user] : relevant_all.indptr[user + 1]]
            if not len(wanted):
                continue
            listed = rankings.items[row]
            listed = listed[listed >= 0]
            scores = rankings.scores[row, : len(listed)].astype(np.float64)
            candidates = n_items - (train.indptr[user + 1] - train.indptr[user] if exclude_seen else 0)
            users.append(user)
            ranks.append((_median_rank(listed, scores, wanted, candidates), candidates))
            for k in ks:
                top = listed[:k]
                slots[k] += len(top)
                cold_slots[k] += int(cold[top].sum())
            wanted_new = wanted[cold[wanted]]
            hits = np.isin(listed[cold[listed]], wanted_new)  # the list among new items only, in the model's order
            for k in ks:
                ideal = discounts[: min(k, len(wanted_new))].sum()
                new_ndcg[k].append(float((hits[:k] * discounts[: len(hits[:k])]).sum() / ideal) if len(wanted_new) else float("nan"))
    if not users:
        raise InputError(f"placement: no user of the rankings has an item in the {part} part")
    rank = np.array([r for r, _ in ranks])
    candidates = np.array([c for _, c in ranks], dtype=np.float64)
    share = rank / candidates
    catalogue = float(cold.mean())
    summary = {
        "placement_users": float(len(users)),
        "test_rank_median": float(np.median(rank)),
        "test_rank_share_median": float(np.median(share)),
        "cold_catalogue_share": catalogue,
    }
    for k in ks:
        in_lists = cold_slots[k] / slots[k] if slots[k] else float("nan")
        summary[f"cold_share@{k}"] = in_lists
        summary[f"cold_lift@{k}"] = in_lists / catalogue if catalogue else float("nan")
        values = np.asarray(new_ndcg[k], dtype=np.float64)
        summary[f"{NEW_ITEMS_NDCG}@{k}"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    per_user = {"test_rank": rank, "test_rank_share": share, **{f"{NEW_ITEMS_NDCG}@{k}": np.asarray(new_ndcg[k], dtype=np.float64) for k in ks}}
    return Placement(part, encoded.user_ids[np.array(users)], per_user, summary)


def _median_rank(listed: np.ndarray, scores: np.ndarray, wanted: np.ndarray, candidates: int) -> float:
    """Median over ``wanted`` of each item's tie-aware 1-based rank in ``listed`` (scores descending)."""
    position = np.full(int(listed.max(initial=-1)) + 1 if len(listed) else 0, -1, dtype=np.int64)
    position[listed] = np.arange(len(listed))
    descending = -scores  # ascending, for searchsorted
    out = []
    for item in wanted:
        at = position[item] if item < len(position) else -1
        if at < 0:  # never listed: mid-rank of the unlisted block
            out.append(len(listed) + (candidates - len(listed) + 1) / 2)
            continue
        s = descending[at]
        higher = np.searchsorted(descending, s, side="left")
        equal = np.searchsorted(descending, s, side="right") - higher
        out.append(higher + (equal + 1) / 2)
    return float(np.median(out))


def placement_users(encoded: EncodedSplit, part: str = "test", max_users: int | None = None, seed: int = 0) -> np.ndarray:
    """The user indices placement is measured on: every user with an item in ``part``, or a seeded
    sample of ``max_users`` of them (full rankings cost ``n_items`` entries per user)."""
    users = encoded.eval_users(part)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    return users
