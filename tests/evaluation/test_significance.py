"""Paired tests, Holm, effect size, bootstrap CIs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recsys_cl.errors import InputError
from recsys_cl.evaluation import compare_to_baseline
from recsys_cl.evaluation._significance import bootstrap_ci, cohens_d_paired, holm, paired_tests


def test_holm_by_hand() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # NaN does not count: m = 2; 0.5*2 = 1.0, 0.9*1 = 0.9 -> monotone: 1.0
    np.testing.assert_allclose(holm([0.5, np.nan, 0.9]), [1.0, np.nan, 1.0])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.2]), [0.02, np.nan, 0.2])


def test_cohens_d_paired_by_hand() -> None:
    assert cohens_d_paired(np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert cohens_d_paired(np.ones(4), np.ones(4)) == 0.0


def test_randomisation_test_equals_full_sign_flip_enumeration() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.random(8), rng.random(8)
    d = x - y
    observed = abs(d.mean())
    flips = np.array(list(itertools.product([1, -1], repeat=8)))
    exact = np.mean(np.abs((flips * d).mean(axis=1)) >= observed - 1e-12)
    assert paired_tests(x, y, n_resamples=10_000)["p_randomisation"] == pytest.approx(exact)


def test_direction_alternatives_and_reproducibility() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(400)
    better = base + 0.05 + rng.normal(0, 0.05, 400)
    same = base + np.tile([0.1, -0.1], 200)  # mean difference exactly 0
    table = compare_to_baseline(
        {"base": {"ndcg@10": base}, "better": {"ndcg@10": better}, "same": {"ndcg@10": same}},
        "base", n_resamples=2000, n_bootstrap=300,
    )
    rows = {r["model"]: r for r in table.iter_rows(named=True)}
    assert rows["better"]["direction"] == "higher" and rows["better"]["significant"]
    assert rows["better"]["p_t"] < 1e-6 and rows["better"]["p_wilcoxon"] < 1e-6
    assert rows["better"]["cohen_d"] > 0.5
    assert rows["better"]["p_t_holm"] == pytest.approx(min(1.0, 2 * rows["better"]["p_t"]))  # 2 comparisons
    assert rows["same"]["p_t"] == pytest.approx(1.0) and not rows["same"]["significant"]
    assert np.isnan(rows["base"]["p_t"])
    lo, hi = rows["better"]["ci_low"], rows["better"]["ci_high"]
    assert lo < better.mean() < hi and hi - lo < 0.1
    assert rows["better"]["diff_ci_low"] > 0
    # one-sided the wrong way: no evidence
    assert paired_tests(better, base, alternative="less", n_resamples=500)["p_t"] > 0.99
    again = compare_to_baseline(
        {"base": {"ndcg@10": base}, "better": {"ndcg@10": better}, "same": {"ndcg@10": same}},
        "base", n_resamples=2000, n_bootstrap=300,
    )
    assert again.equals(table)


def test_bootstrap_ci_covers_the_mean() -> None:
    x = np.random.default_rng(1).random(1000)
    lo, hi = bootstrap_ci(x, n_resamples=500, seed=3)
    assert lo < x.mean() < hi
    assert (lo, hi) == bootstrap_ci(x, n_resamples=500, seed=3)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="same users"):
        compare_to_baseline({"a": {"hr@1": np.ones(3)}, "b": {"hr@1": np.ones(4)}}, "a")
    with pytest.raises(InputError, match="baseline 'z'"):
        compare_to_baseline({"a": {"hr@1": np.ones(3)}}, "z")
    with pytest.raises(InputError, match="alternative"):
        paired_tests(np.ones(3), np.zeros(3), alternative="bigger")


def test_compare_results_pairs_users_of_two_evaluations(tiny) -> None:
    from recsys_cl.evaluation import Rankings, compare_results, evaluate

    def rank(lists, name):
        users = tiny.user_index(list(lists))
        items = np.array([tiny.item_index(v) for v in lists.values()])
        return Rankings(tiny.user_ids, tiny.item_ids, users, items, np.ones(items.shape, np.float32), name)

    good = evaluate(rank({"a": ["i4", "i3"], "b": ["i5", "i3"], "d": ["i1", "i2"]}, "good"), tiny, ks=[2])
    bad = evaluate(rank({"a": ["i3", "i6"], "b": ["i3", "i6"], "d": ["i3", "i6"]}, "bad"), tiny, ks=[2])
    table = compare_results([bad, good], "bad", metrics=["hr@2"], n_resamples=100, n_bootstrap=100)
    row = table.filter(table["model"] == "good").row(0, named=True)
    assert row["mean"] == 1.0 and row["baseline_mean"] == 0.0 and row["direction"] == "higher"
    # 3 users, all differences +1: the exact sign-flip test gives p = 2 / 8 (two-sided)
    assert row["p_randomisation"] == pytest.approx(0.25)
    with pytest.raises(InputError, match="share a name"):
        compare_results([good, good], "good")


def test_sign_flip_equals_scipy_exactly_when_enumerated_and_within_monte_carlo_error_otherwise() -> None:
    from scipy import stats

    from recsys_cl.evaluation._significance import sign_flip_pvalue

    rng = np.random.default_rng(3)
    for n, shift in ((11, 0.1), (400, 0.01)):
        x = rng.random(n)
        y = x - shift + 0.2 * rng.normal(size=n)
        for alternative in ("two-sided", "greater", "less"):
            ours = sign_flip_pvalue(x - y, alternative=alternative, n_resamples=20_000, seed=1)
            reference = stats.permutation_test(
                (x, y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples", vectorized=True,
                n_resamples=20_000, alternative=alternative, random_state=np.random.default_rng(0),
            ).pvalue
            if 2**n <= 20_000:
                assert ours == pytest.approx(reference, abs=1e-12)
            else:  # two independent Monte Carlo estimates of one p: within 4 standard errors
                error = 4 * np.sqrt(max(reference * (1 - reference), 1e-4) / 20_000) * 2
                assert abs(ours - reference) <= error, (alternative, ours, reference)


def test_models_with_the_same_per_user_scores_get_the_same_p_value_and_verdict() -> None:
    """A tuned variant whose best trial was its configured one scores exactly as its [default] twin: the two
    must not differ in significance through Monte Carlo noise (one resampling stream per metric)."""
    rng = np.random.default_rng(3)
    base = rng.random(300)
    lifted = base + rng.normal(0.03, 0.3, 300)  # a lift near the edge of significance
    others = {f"other{i}": base + rng.normal(0.0, 0.3, 300) for i in range(4)}
    table = compare_to_baseline({"pop": {"ndcg@10": base}, "tuned": {"ndcg@10": lifted}, **{k: {"ndcg@10": v} for k, v in others.items()},
                                 "default": {"ndcg@10": lifted.copy()}}, "pop", n_resamples=2000)  # fmt: skip
    rows = {r["model"]: r for r in table.iter_rows(named=True)}
    for column in ("p_randomisation", "p_randomisation_holm", "ci_low", "ci_high", "diff_ci_low", "significant"):
        assert rows["tuned"][column] == rows["default"][column], column


def test_paired_family_gives_identical_pairs_identical_p_and_adjusts_over_the_family() -> None:
    from recsys_cl.evaluation import paired_family

    rng = np.random.default_rng(5)
    y = rng.random(200)
    x = y + rng.normal(0.04, 0.3, 200)
    z = y + rng.normal(0.0, 0.3, 200)
    tested = paired_family([(x, y), (x.copy(), y.copy()), (z, y), (x[:10], y)], n_resamples=2000)
    (d1, p1), (d2, p2), (_, p3), (d4, p4) = tested
    assert (d1, p1) == (d2, p2) and d1 == pytest.approx(float(np.mean(x - y)))
    assert np.isnan(d4) and np.isnan(p4)  # unequal lengths: not tested, not counted in Holm's m
    raw = [paired_tests(a, b, n_resamples=2000, seed=0)["p_randomisation"] for a, b in ((x, y), (x, y), (z, y))]
    np.testing.assert_allclose([p1, p2, p3], holm(raw))  # the same stream for every pair, Holm over the three
