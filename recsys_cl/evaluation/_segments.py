"""Segments: users by training activity, test items by training popularity.

* User activity = the user's number of training interactions (rows, repeats included). Default
  boundaries ``(2, 5, 10)`` give ``1-2``, ``3-5``, ``6-10``, ``11+``; users with no training
  interaction at all (possible in the temporal protocol) get ``0``.
* Item popularity = the item's number of training interactions: ``cold`` = 0 (never seen in
  training), ``rare`` = 1..``rare_max`` (default 10), ``warm`` = more. An item segment is evaluated
  with relevance restricted to the user's test items in that segment (users without such items are
  not counted there); ranked items of other segments still take their places in the list.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

ITEM_SEGMENTS = ("cold", "rare", "warm")


class SegmentConfig(BaseModel):
    """Where segment boundaries lie (inclusive upper bounds, in training interactions)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    user_bins: tuple[int, ...] = Field((2, 5, 10), description="inclusive upper bounds of the user segments, in training interactions")
    rare_max: int = Field(10, description="test items with 1..rare_max training interactions are rare; more: warm; none: cold")

    @field_validator("user_bins")
    @classmethod
    def _increasing(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(b < 1 for b in v) or any(b2 <= b1 for b1, b2 in zip(v, v[1:])):
            raise ValueError(f"user_bins must be strictly increasing positive integers (got {v})")
        return v

    @field_validator("rare_max")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"rare_max must be >= 1 (got {v})")
        return v

    def user_labels(self) -> list[str]:
        """All user-activity labels in order, ``0`` first."""
        labels, low = ["0"], 1
        for b in self.user_bins:
            labels.append(f"{low}-{b}" if b > low else str(b))
            low = b + 1
        labels.append(f"{low}+")
        return labels


def user_activity_codes(train_counts: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """Index into ``config.user_labels()`` per user, from its number of training interactions."""
    bins = np.searchsorted(np.asarray(config.user_bins), train_counts, side="left") + 1
    return np.where(train_counts <= 0, 0, bins)


def user_activity_labels(train_counts: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """Label per user (str array) from its number of training interactions."""
    return np.asarray(config.user_labels())[user_activity_codes(train_counts, config)]


def item_popularity_labels(train_popularity: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """Label per item: ``cold`` / ``rare`` / ``warm`` from its number of training interactions."""
    out = np.full(len(train_popularity), "warm", dtype=object)
    out[train_popularity <= config.rare_max] = "rare"
    out[train_popularity <= 0] = "cold"
    return out.astype(str)
