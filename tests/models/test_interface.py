"""The model interface: typed configs, run names, the registry, timing and progress."""

from __future__ import annotations

import pytest

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.models import MODELS, ContentKNN, ImplicitALS, ItemKNN, create


def test_unknown_config_key_is_rejected_by_name() -> None:
    with pytest.raises(InputError, match="neighbors"):
        ItemKNN(neighbors=5)  # American spelling of the real key "neighbours"
    with pytest.raises(InputError, match="factors"):
        create("implicit-als", factors="many")


def test_run_name_lists_changed_parameters_only() -> None:
    assert ItemKNN().run_name == "itemknn"
    assert ItemKNN(neighbours=5, seed=3).run_name == "itemknn(neighbours=5)"
    assert create("lightfm", loss="bpr", epochs=3).run_name == "lightfm(loss=bpr, epochs=3)"
    assert ContentKNN(half_life_days=None).run_name == "content-knn(half_life_days=None)"
    categorical = create("lightfm", item_features="categorical", item_table="/some/where/hm.item")
    assert categorical.run_name == "lightfm(item_features=categorical, item_table=hm.item)"


def test_registry_creates_by_name_and_rejects_unknown_names() -> None:
    assert {"pop", "recent-pop", "itemknn", "content-knn", "implicit-als", "implicit-bpr", "lightfm"} <= set(MODELS)
    model = create("implicit-als", factors=4)
    assert isinstance(model, ImplicitALS) and model.config.factors == 4
    with pytest.raises(InputError, match="'als2'"):
        create("als2")


def test_fit_records_time_and_reports_progress(loo_encoded: EncodedSplit) -> None:
    calls: list[tuple[int, int]] = []
    model = create("implicit-als", factors=4, epochs=3)
    with pytest.raises(InputError, match="fit"):
        model.recommend(k=5)
    model.fit(loo_encoded, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert model.fit_seconds is not None and model.fit_seconds > 0
    with pytest.raises(InputError, match="k must be"):
        model.recommend(k=0)


def test_pure_id_model_refuses_item_embeddings(loo_encoded: EncodedSplit, item_embeddings) -> None:
    with pytest.raises(InputError, match="does not take item embeddings"):
        create("pop").fit(loo_encoded, item_embeddings)


def test_a_model_that_takes_one_embedding_refuses_several_modalities():
    import numpy as np

    from recsys_cl.embeddings import ItemEmbeddings
    from recsys_cl.errors import InputError
    from recsys_cl.models import create

    emb = ItemEmbeddings(np.array(["a", "b"]), np.ones((2, 3), np.float32), "x")
    model = create("content-knn")
    try:
        model.fit(None, {"text": emb, "image": emb})  # type: ignore[arg-type]
    except InputError as exc:
        assert "takes one item embedding, not several modalities" in str(exc)
    else:
        raise AssertionError("a mapping of modalities was accepted by a single-embedding model")
