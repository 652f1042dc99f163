"""EASE and SLIM: the shared contract, EASE against Steck's closed form in float64 numpy, its memory refusal and
bounded variant, SLIM against scikit-learn's ElasticNet run per item on the dense matrix."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.errors import InputError
from recsys_cl.models import _linear, create
from recsys_cl.models._linear import EASE, EASEConfig

from recsys_cl.testing import ModelTests


class TestEASE(ModelTests):
    model_name = "ease"
    params = {"reg": 10.0}


class TestEASEBounded(ModelTests):
    model_name = "ease"
    params = {"reg": 10.0, "max_items": 40}


class TestSLIM(ModelTests):
    model_name = "slim"
    params = {"alpha": 1e-3, "l1_ratio": 0.1, "neighbours": 20}


@pytest.fixture(scope="module")
def random_split() -> EncodedSplit:
    rng = np.random.default_rng(1)
    rows = [(f"u{u:02d}", f"i{i}", float(t)) for u in range(40) for t, i in enumerate(rng.choice(12, size=5, replace=False))]
    return EncodedSplit.from_split(loo(pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")))


def _steck(x: np.ndarray, reg: float) -> np.ndarray:
    """Steck (2019), Algorithm 1, in float64."""
    g = x.T @ x + reg * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b


def test_ease_is_stecks_closed_form(random_split: EncodedSplit) -> None:
    model = create("ease", reg=3.0).fit(random_split)
    x = (random_split.train.toarray() > 0).astype(float)
    b = _steck(x, 3.0)
    np.testing.assert_allclose(model.weights, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model._score(np.arange(random_split.n_users)), x @ b, rtol=1e-4, atol=1e-5)


def test_ease_refuses_before_any_work_naming_the_memory(random_split: EncodedSplit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_linear, "available_bytes", lambda: 800.0)  # room for 800 / 8 bytes = 100 values: 10 items
    monkeypatch.setattr(_linear, "ease_weights", lambda *a: pytest.fail("EASE computed although it must refuse"))
    with pytest.raises(InputError, match=r"ease: 12 items need a 12 x 12 float32 matrix .* Set max_items: 10 or less"):
        create("ease").fit(random_split)
    monkeypatch.undo()
    monkeypatch.setattr(_linear, "available_bytes", lambda: 800.0)
    create("ease", max_items=10).fit(random_split)  # the bounded variant fits in the same memory


def test_ease_figure_for_hm_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal names H&M's figure: 105,542 articles are a 44.6 GB float32 matrix, ~89 GB at peak."""
    monkeypatch.setattr(_linear, "available_bytes", lambda: 21e9)
    model = create("ease")
    message = model.cannot_fit(model.config, 1_371_980, 105_542) or ""
    assert "105,542 x 105,542 float32 matrix (44.6 GB) and about 89.1 GB at peak; 21.0 GB is available" in message
    assert "max_items: 51,234 or less" in message  # sqrt(21e9 / 8)
    bounded = create("ease", max_items=50_000)
    assert bounded.cannot_fit(bounded.config, 1_371_980, 105_542) is None  # the bounded variant's need: 50,000 items
    assert bounded.cannot_fit(bounded.config, 1_371_980, 40_000) is None
    assert "60,000 items (max_items: 60000) need" in (EASE.cannot_fit(EASEConfig(max_items=60_000), 1, 105_542) or "")


def test_ease_bounded_is_ease_on_the_most_bought_items_the_rest_ranked_last(random_split: EncodedSplit) -> None:
    n_kept = 7
    model = create("ease", reg=3.0, max_items=n_kept).fit(random_split)
    x = (random_split.train.toarray() > 0).astype(float)
    buyers = x.sum(axis=0)
    kept = np.sort(np.argsort(-buyers, kind="stable")[:n_kept])
    assert model.kept_items.tolist() == kept.tolist()
    scores = model._score(np.arange(random_split.n_users))
    np.testing.assert_allclose(scores[:, kept], x[:, kept] @ _steck(x[:, kept], 3.0), rtol=1e-4, atol=1e-5)
    dropped = np.setdiff1d(np.arange(random_split.n_items), kept)
    assert (scores[:, dropped] < scores[:, kept].min()).all()
    ranked = model.recommend(k=3)
    assert np.isin(ranked.items, kept).all()


def test_slim_is_sklearn_elasticnet_per_item(random_split: EncodedSplit) -> None:
    """Each column j of W: ElasticNet on the dense matrix with column j zeroed (the reference libraries'
    recipe, here without the sparse matrix, the threads or the pruning)."""
    from sklearn.linear_model import ElasticNet

    alpha, l1_ratio = 2e-3, 0.2
    model = create("slim", alpha=alpha, l1_ratio=l1_ratio, neighbours=50, max_iter=1000, num_threads=2).fit(random_split)
    x = (random_split.train.toarray() > 0).astype(float)
    expected = np.zeros((x.shape[1], x.shape[1]))
    for j in range(x.shape[1]):
        others = x.copy()
        others[:, j] = 0.0
        reg = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, positive=True, fit_intercept=False, max_iter=1000, tol=1e-4,
                         selection="random", random_state=0)  # fmt: skip
        expected[:, j] = reg.fit(others, x[:, j]).coef_
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-3, atol=1e-4)
    assert (np.diag(model.similarity.toarray()) == 0).all() and expected.any()


def test_slim_does_not_depend_on_the_thread_count(random_split: EncodedSplit) -> None:
    one = create("slim", neighbours=3, num_threads=1).fit(random_split).similarity
    three = create("slim", neighbours=3, num_threads=3).fit(random_split).similarity
    assert (one != three).nnz == 0
    assert (one.getnnz(axis=0) <= 3).all()  # each item's regression keeps its 3 largest weights


@pytest.mark.parametrize("name", ["itemknn", "rp3beta", "ease", "slim"])
@pytest.mark.parametrize("split", ["cold_encoded", "sequential_cold_encoded"])
def test_runs_on_every_protocol_and_scores_cold_items_zero(
    request: pytest.FixtureRequest, name: str, split: str
) -> None:
    """The models serve every protocol (they declare none refused); an item never bought in training
    scores 0 for everyone (no content to place it), and the rankings are filled all the same."""
    encoded = request.getfixturevalue(split)
    model = create(name).fit(encoded)
    assert model.protocols is None
    scores = model._score(encoded.eval_users("test"))
    cold = np.diff(encoded.train.tocsc().indptr) == 0
    if cold.any():
        np.testing.assert_allclose(scores[:, cold], 0.0, atol=1e-6)
    rankings = model.recommend(k=5, exclude_seen=False)
    assert rankings.items.shape == (len(encoded.eval_users("test")), 5)
