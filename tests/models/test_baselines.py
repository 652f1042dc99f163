"""Random, Pop and RecentPop: the shared contract plus hand-computed expectations."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.data._split import DAY
from recsys_cl.models import create

from recsys_cl.testing import ModelTests


class TestRandom(ModelTests):
    model_name = "random"
    expected_margin_over_pop = None


class TestPop(ModelTests):
    model_name = "pop"
    expected_margin_over_pop = None


class TestRecentPop(ModelTests):
    model_name = "recent-pop"
    params = {"days": 2.0}
    expected_margin_over_pop = None


def _encoded(rows: list[tuple[str, str, float]]) -> EncodedSplit:
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    return EncodedSplit.from_split(loo(frame))


def test_pop_ranks_by_all_time_count_and_ties_by_item_index() -> None:
    # train counts (each user's last two rows go to valid/test): a=3, c=3, b=1, d=1 (u4's own, excluded);
    # a and c tie, so the lower item index (a) comes first
    rows = [
        ("u1", "a", 1), ("u1", "c", 2), ("u1", "x", 3), ("u1", "y", 4),
        ("u2", "a", 1), ("u2", "c", 2), ("u2", "b", 3), ("u2", "x", 4), ("u2", "y", 5),
        ("u3", "a", 1), ("u3", "c", 2), ("u3", "x", 3), ("u3", "y", 4),
        ("u4", "d", 1),
    ]  # fmt: skip
    enc = _encoded(rows)
    ranked = create("pop").fit(enc).recommend(["u4"], k=3)
    assert enc.item_ids[ranked.items[0]].tolist() == ["a", "c", "b"]
    np.testing.assert_allclose(ranked.scores[0], [3, 3, 1])


def test_recent_pop_counts_only_the_window_and_breaks_ties_by_all_time() -> None:
    day = DAY
    rows = [
        # "old" is bought by everyone early on; "new" and "newer" only in the last 3 days of training
        *[(f"u{n}", "old", 0.0 + n) for n in range(5)],
        ("u0", "new", 9 * day), ("u1", "new", 9 * day), ("u2", "newer", 9.5 * day),
        ("u3", "rare", 1 * day), ("u3", "rare2", 2 * day),
        # valid/test rows of each user (later than all train rows)
        *[(f"u{n}", "v", 20 * day + n) for n in range(5)],
        *[(f"u{n}", "t", 21 * day + n) for n in range(5)],
        ("u9", "zzz", 0.0),
    ]
    enc = _encoded(rows)
    all_time = create("pop").fit(enc).recommend(["u9"], k=2)
    assert enc.item_ids[all_time.items[0]].tolist() == ["old", "new"]
    recent = create("recent-pop", days=3).fit(enc).recommend(["u9"], k=4)
    # window (6, 10] days: new=2, newer=1; then ties at 0 recent buys broken by all-time count (old=5)
    assert enc.item_ids[recent.items[0]].tolist() == ["new", "newer", "old", "rare"]


def test_random_is_uniform_and_independent_of_who_is_ranked_with_whom() -> None:
    rows = [(f"u{u}", f"i{i:03d}", float(t)) for u in range(40) for t, i in enumerate(range(u % 7, 300, 37))]
    enc = _encoded(rows)
    model = create("random", seed=3).fit(enc)
    alone = model.recommend(["u5"], k=20)
    together = model.recommend([f"u{u}" for u in range(40)], k=20)
    assert np.array_equal(alone.items[0], together.items[5])
    assert not np.array_equal(together.items[0], together.items[1])  # users differ
    other_seed = create("random", seed=4).fit(enc).recommend(["u5"], k=20)
    assert not np.array_equal(alone.items[0], other_seed.items[0])
    # every non-training item equally likely first: chi-square of top-1 counts over 40 users x 50 seeds
    from scipy.stats import chisquare

    users = enc.eval_users("test")
    seeds = 50
    firsts = np.concatenate([create("random", seed=s).fit(enc).recommend(k=1).items[:, 0] for s in range(seeds)])
    expected = np.zeros(enc.n_items)
    for u in users:
        candidate = np.ones(enc.n_items, dtype=bool)
        candidate[enc.train[u].indices] = False
        expected[candidate] += seeds / candidate.sum()
    observed = np.bincount(firsts, minlength=enc.n_items)
    assert observed.sum() == len(users) * seeds and (observed[expected == 0] == 0).all()
    assert chisquare(observed[expected > 0], expected[expected > 0]).pvalue > 1e-3
