"""Non-personalised baselines: Random, Pop, RecentPop (the neighbourhood and linear ones are in ``_neighbourhood.py``
and ``_linear.py``).

All of them rank through the shared full-ranking top-K (``_score`` + ``topk_from_scorer``), so they
exclude training items and break ties the same way as every other model (lower item index first).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data import EncodedSplit
from recsys_cl.data import DAY
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import FitOptions, ModelConfig, Recommender, register


def item_popularity(train: sp.csr_matrix) -> np.ndarray:
    """Training interaction count per item, (n_items,) float32 (repeat purchases count each time)."""
    return np.asarray(train.sum(axis=0), dtype=np.float32).ravel()


class RandomConfig(ModelConfig):
    pass


@register("random")
class Random(Recommender):
    """Uniformly random scores: the chance level every model is compared with (the cold-item protocol's
    floor, where Pop scores nothing).

    score(u, i) is a hash of (seed, user, item) rather than draws from a generator, so a user's list
    does not depend on which other users are ranked with it or on the chunk size.
    """

    Config = RandomConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        self.n_items = split.n_items

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        keys = np.asarray(user_idx, dtype=np.uint64)[:, None] * np.uint64(self.n_items) + np.arange(self.n_items, dtype=np.uint64)
        return (_splitmix64(keys ^ _splitmix64(np.uint64(self.config.seed))) >> np.uint64(40)).astype(np.float32)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele et al. 2014): a bijective 64-bit mix, uniform in its high bits.
    Written out because NumPy's generators draw sequences, not a value per (user, item) key."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class PopConfig(ModelConfig):
    pass


@register("pop")
class Pop(Recommender):
    """Most-purchased items over the whole training period, the same list for every user."""

    Config = PopConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        self.item_scores = item_popularity(split.train)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return np.repeat(self.item_scores[None, :], len(user_idx), axis=0)


class RecentPopConfig(ModelConfig):
    days: float = Field(7.0, gt=0, description="window at the end of the training period, in days")


@register("recent-pop")
class RecentPop(Pop):
    """Most-purchased items in the last ``days`` days of training (a strong H&M baseline).

    Ties inside the window (items with equal recent counts, e.g. the many with none) are broken by
    all-time popularity: score = recent count + all-time count / (max all-time count + 1), so the
    fraction never reaches the next integer and the window always dominates.
    """

    Config = RecentPopConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        train = split.split.train
        if train.height == 0:
            raise InputError("recent-pop: the training part is empty")
        end = float(train["timestamp"].max())
        recent = train.filter(pl.col("timestamp") > end - self.config.days * DAY)
        recent_counts = np.bincount(split.item_index(recent["item_id"]), minlength=split.n_items)
        all_time = item_popularity(split.train).astype(np.float64)
        scores = recent_counts + all_time / (all_time.max() + 1.0)
        self.window_start = end - self.config.days * DAY
        self.item_scores = scores.astype(np.float32)
