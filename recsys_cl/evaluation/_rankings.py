"""Rankings: the one object models hand to the evaluator (top-K item ids and scores per user)."""

from __future__ import annotations

import dataclasses

import numpy as np

from recsys_cl.errors import InputError


@dataclasses.dataclass(frozen=True)
class Rankings:
    """Top-K lists for a set of users.

    ``users[r]`` indexes ``user_ids``; ``items[r, j]`` (rank ``j + 1``) indexes ``item_ids``, with
    ``-1`` padding where a list is shorter than K; ``scores`` has the same shape (NaN at padding).
    """

    user_ids: np.ndarray  # (n_users_vocab,) str
    item_ids: np.ndarray  # (n_items_vocab,) str
    users: np.ndarray  # (n,) int64
    items: np.ndarray  # (n, K) int64, -1 = padding
    scores: np.ndarray  # (n, K) float32
    name: str = "rankings"

    def __post_init__(self) -> None:
        if self.items.ndim != 2 or self.items.shape != self.scores.shape:
            raise InputError(f"rankings {self.name}: items {self.items.shape} and scores {self.scores.shape} must be (n, K)")
        if self.users.shape != (self.items.shape[0],):
            raise InputError(f"rankings {self.name}: {len(self.users)} users for {self.items.shape[0]} lists")

    @property
    def k(self) -> int:
        return self.items.shape[1]
