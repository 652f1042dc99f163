"""Top-K helper: equal to a brute-force stable argsort over all items, exclusion, ties, padding."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys_cl.errors import InputError, ModelDiverged
from recsys_cl.evaluation import topk_from_factors, topk_from_scorer


def _brute_force(scores: np.ndarray, exclude: sp.csr_matrix | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: stable argsort on (-score) so ties keep the lower item index first; excluded items dropped."""
    n, n_items = scores.shape
    items = np.full((n, k), -1, dtype=np.int64)
    vals = np.full((n, k), np.nan, dtype=np.float32)
    for r in range(n):
        order = np.argsort(-scores[r], kind="stable")
        if exclude is not None:
            banned = set(exclude[r].indices.tolist())
            order = np.array([i for i in order if i not in banned], dtype=np.int64)
        order = order[:k]
        items[r, : len(order)] = order
        vals[r, : len(order)] = scores[r, order]
    return items, vals


def _random_exclude(rng: np.random.Generator, n_users: int, n_items: int, density: float) -> sp.csr_matrix:
    return sp.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float32))


def test_factors_match_brute_force_with_exclusion_and_small_chunks() -> None:
    rng = np.random.default_rng(0)
    uf = rng.normal(size=(37, 8)).astype(np.float32)
    itf = rng.normal(size=(50, 8)).astype(np.float32)
    bias = rng.normal(size=50).astype(np.float32)
    excl = _random_exclude(rng, 37, 50, 0.3)
    items, scores = topk_from_factors(uf, itf, 10, exclude=excl, item_bias=bias, device="cpu", chunk_size=7)
    ref_scores = (torch.from_numpy(uf) @ torch.from_numpy(itf).T + torch.from_numpy(bias)).numpy()
    ref_items, ref_vals = _brute_force(ref_scores, excl, 10)
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_allclose(scores, ref_vals, rtol=1e-6)
    # no excluded (training) item is ever returned
    assert not any(excl[r, i] for r in range(37) for i in items[r] if i >= 0)


def test_ties_lower_index_first_and_straddling_the_cut() -> None:
    # Many equal scores: the k-th place is tied with items that must lose to lower indices.
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, size=(40, 30)).astype(np.float32)
    excl = _random_exclude(rng, 40, 30, 0.2)
    users = np.arange(40)
    items, vals = topk_from_scorer(lambda u: scores[u], 30, 6, users, exclude=excl, device="cpu", chunk_size=9)
    ref_items, ref_vals = _brute_force(scores, excl, 6)
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_array_equal(vals, ref_vals)


def test_scorer_subset_of_users_picks_their_exclusion_rows() -> None:
    rng = np.random.default_rng(2)
    full = rng.random((20, 15)).astype(np.float32)
    excl = _random_exclude(rng, 20, 15, 0.4)
    users = np.array([17, 3, 3, 9])
    items, _ = topk_from_scorer(lambda u: full[u], 15, 5, users, exclude=excl, device="cpu")
    ref_items, _ = _brute_force(full[users], excl[users], 5)
    np.testing.assert_array_equal(items, ref_items)


def test_padding_when_fewer_rankable_items_than_k_and_k_beyond_catalogue() -> None:
    scores = np.array([[0.1, 0.5, 0.3, -np.inf]], dtype=np.float32)
    excl = sp.csr_matrix(np.array([[0, 1, 0, 0]], dtype=np.float32))
    items, vals = topk_from_scorer(lambda u: scores[u], 4, 6, np.array([0]), exclude=excl, device="cpu")
    np.testing.assert_array_equal(items, [[2, 0, -1, -1, -1, -1]])
    np.testing.assert_allclose(vals[0, :2], [0.3, 0.1])
    assert np.isnan(vals[0, 2:]).all()


def test_scorer_array_is_not_modified_in_place() -> None:
    scores = np.arange(12, dtype=np.float32).reshape(2, 6)
    kept = scores.copy()
    excl = sp.csr_matrix(np.eye(2, 6, dtype=np.float32))
    topk_from_scorer(lambda u: scores, 6, 3, np.arange(2), exclude=excl, device="cpu")
    np.testing.assert_array_equal(scores, kept)


def test_progress_reports_every_chunk() -> None:
    seen: list[tuple[int, int]] = []
    topk_from_factors(np.ones((5, 2)), np.ones((4, 2)), 2, device="cpu", chunk_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: topk_from_factors(np.ones((3, 2)), np.ones((4, 3)), 2, device="cpu"),
        lambda: topk_from_factors(np.ones((3, 2)), np.ones((4, 2)), 0, device="cpu"),
        lambda: topk_from_scorer(lambda u: np.ones((len(u), 3)), 4, 2, np.arange(2), device="cpu"),
        lambda: topk_from_scorer(lambda u: np.full((len(u), 4), np.nan), 4, 2, np.arange(2), device="cpu"),
        lambda: topk_from_factors(np.ones((3, 2)), np.ones((4, 2)), 2, users=np.array([3]), device="cpu"),
    ],
)
def test_bad_input_raises_input_error(call) -> None:
    with pytest.raises(InputError):
        call()


def test_every_row_tied_popularity_like_scores() -> None:
    # 150 users (more than one batch of tied rows), identical integer scores: lowest indices win.
    pop = np.array([3, 1, 3, 3, 0, 3], dtype=np.float32)
    excl = sp.csr_matrix((np.ones(150), (np.arange(150), np.arange(150) % 6)), shape=(150, 6))
    items, _ = topk_from_scorer(lambda u: np.tile(pop, (len(u), 1)), 6, 3, np.arange(150), exclude=excl, device="cpu")
    ref, _ = _brute_force(np.tile(pop, (150, 1)), excl, 3)
    np.testing.assert_array_equal(items, ref)


@pytest.mark.parametrize("distinct", [2000, 40, 3])  # from nearly no ties to every row tied at the cut
def test_two_stage_block_topk_equals_brute_force(monkeypatch, distinct: int) -> None:
    # Catalogues from ~13k items (K=12) take the block-maxima path; small blocks exercise it on small data,
    # with a short last block (1,003 items = 125 blocks of 8 + 3), exclusions, a row with fewer rankable
    # items than K and one row entirely excluded.
    import recsys_cl.evaluation._topk as topk_module

    monkeypatch.setattr(topk_module, "_BLOCK", 8)
    rng = np.random.default_rng(distinct)
    n_users, n_items, k = 30, 1003, 12
    assert n_items >= 8 * (k + 1) * topk_module._BLOCK  # the two-stage path is the one taken
    scores = rng.integers(0, distinct, size=(n_users, n_items)).astype(np.float32)
    excl = _random_exclude(rng, n_users, n_items, 0.3).tolil()
    excl[0, :] = 1.0
    excl[1, 5:] = 1.0
    excl = excl.tocsr()
    items, vals = topk_from_scorer(lambda u: scores[u], n_items, k, np.arange(n_users), exclude=excl, device="cpu", chunk_size=7)
    ref_items, ref_vals = _brute_force(scores, excl, k)
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_array_equal(vals, ref_vals)


# -- topk_sparse_over_base: personal entries over a shared (or per-segment) base list ---------------
def _sparse_case(rng: np.random.Generator, n_users: int = 45, n_items: int = 40, n_bases: int = 3):
    """Integer-valued scores (many ties), a few -inf base items, personal entries of both signs."""
    from recsys_cl.evaluation._topk import topk_sparse_over_base  # noqa: F401  (import checked here)

    base = rng.integers(0, 4, size=(n_bases, n_items)).astype(np.float32)
    base[:, rng.choice(n_items, size=3, replace=False)] = -np.inf
    dense_personal = np.where(rng.random((n_users, n_items)) < 0.15, rng.integers(-2, 6, size=(n_users, n_items)), 0)
    personal = sp.csr_matrix(dense_personal.astype(np.float32))
    user_base = rng.integers(0, n_bases, size=n_users)
    return base, personal, user_base


@pytest.mark.parametrize("k", [1, 5, 12, 60])
def test_sparse_over_base_equals_the_dense_top_k(k: int) -> None:
    from recsys_cl.evaluation._topk import topk_sparse_over_base

    rng = np.random.default_rng(10 + k)
    base, personal, user_base = _sparse_case(rng)
    excl = _random_exclude(rng, 45, 40, 0.25)
    users = rng.permutation(45)[:30]
    dense = personal.toarray() + base[user_base]
    for exclude in (excl, None):
        ref = topk_from_scorer(lambda u: dense[u], 40, k, users, exclude=exclude, device="cpu", chunk_size=7)
        got = topk_sparse_over_base(personal, base, k, users, user_base=user_base, exclude=exclude, chunk_size=4)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        # the same through a function giving the personal rows of a chunk, in one chunk
        by_fn = topk_sparse_over_base(lambda u: personal[u], base, k, users, user_base=user_base, exclude=exclude)
        np.testing.assert_array_equal(by_fn[0], ref[0])


def test_sparse_over_base_hand_made_example() -> None:
    from recsys_cl.evaluation._topk import topk_sparse_over_base

    # items 0..4; base (one row) 0.5, 0.9, 0.9, 0.1, -inf; user 0 has personal +1 on item 3 and +0.2 on
    # item 0; item 1 is excluded for user 0. Scores: 0.7, (0.9 excluded), 0.9, 1.1, never -> 3, 2, 0, 4th: none
    base = np.array([0.5, 0.9, 0.9, 0.1, -np.inf])
    personal = sp.csr_matrix(np.array([[0.2, 0, 0, 1.0, 0], [0, 0, 0, 0, 0]]))
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))
    items, scores = topk_sparse_over_base(personal, base, 6, np.array([0, 1]), exclude=exclude)
    assert items[0].tolist() == [3, 2, 0, -1, -1, -1]
    np.testing.assert_allclose(scores[0, :3], [1.1, 0.9, 0.7], rtol=1e-6)
    assert np.isnan(scores[0, 3:]).all()
    # user 1: base only, tie 0.9/0.9 -> lower index first, -inf item never listed
    assert items[1].tolist() == [1, 2, 0, 3, -1, -1]


def test_sparse_over_base_float64_ranks_lexicographic_keys_exactly() -> None:
    from recsys_cl.evaluation._topk import topk_sparse_over_base

    # key 1e8 + fraction: float32 would round both to 1e8 and fall back to the item index (0 first)
    base = np.array([0.25, 0.75])
    personal = sp.csr_matrix(np.array([[1e8, 1e8]]))
    items, _ = topk_sparse_over_base(personal, base, 2, np.array([0]))
    assert items[0].tolist() == [1, 0]


def test_sparse_over_base_bad_input() -> None:
    from recsys_cl.evaluation._topk import topk_sparse_over_base

    base = np.zeros((2, 4))
    with pytest.raises(InputError, match="k must be"):
        topk_sparse_over_base(None, base, 0, np.array([0]))
    with pytest.raises(InputError, match="user_base"):
        topk_sparse_over_base(None, base, 2, np.array([0]), user_base=np.array([2]))
    with pytest.raises(InputError, match="NaN"):
        topk_sparse_over_base(None, np.array([0.0, np.nan]), 2, np.array([0]))
    with pytest.raises(InputError, match="item columns"):
        topk_sparse_over_base(sp.csr_matrix((1, 3)), base, 2, np.array([0]))
    with pytest.raises(InputError, match="exclude matrix"):
        topk_sparse_over_base(None, base, 2, np.array([0]), exclude=sp.csr_matrix((1, 5)))


def test_nan_scores_are_a_diverged_model_named_as_such() -> None:
    """NaN anywhere in a row: refused as ModelDiverged (a trial's failure in tuning; one line, exit 2 in a run)."""
    scores = np.random.default_rng(0).random((3, 6)).astype(np.float32)
    scores[1, 4] = np.nan
    with pytest.raises(ModelDiverged, match="NaN scores"):
        topk_from_scorer(lambda users: scores[users], 6, 2, np.arange(3))
    assert issubclass(ModelDiverged, InputError)
