"""Segment boundaries: inclusive upper bounds, 0 kept apart, config checked."""

import numpy as np
import pydantic
import pytest

from recsys_cl.evaluation import SegmentConfig
from recsys_cl.evaluation._segments import item_popularity_labels, user_activity_labels


def test_default_user_bins_at_every_boundary() -> None:
    counts = np.array([0, 1, 2, 3, 5, 6, 10, 11, 100])
    got = user_activity_labels(counts, SegmentConfig())
    assert got.tolist() == ["0", "1-2", "1-2", "3-5", "3-5", "6-10", "6-10", "11+", "11+"]


def test_item_popularity_thresholds() -> None:
    got = item_popularity_labels(np.array([0, 1, 3, 4, 50]), SegmentConfig(rare_max=3))
    assert got.tolist() == ["cold", "rare", "rare", "warm", "warm"]


def test_config_is_checked() -> None:
    with pytest.raises(pydantic.ValidationError):
        SegmentConfig(user_bins=(5, 2))
    with pytest.raises(pydantic.ValidationError):
        SegmentConfig(rare_max=0)
    with pytest.raises(pydantic.ValidationError):
        SegmentConfig(user_bin=(1,))  # typo: extra keys are refused
