"""Every method end to end with the real encoders (MiniLM, EfficientNet-Lite0) on a styles-shaped sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys_cl.embeddings import METHODS, embed, read_itememb

from conftest import build_styles


@pytest.mark.slow
def test_every_method_writes_embeddings_and_quality(tmp_path):
    data_dir = build_styles(tmp_path, images=True, missing_image_every=7)
    n_items = 96
    options = {"cache_dir": str(tmp_path / "cache"), "train": {"epochs": 8, "batch_size": 64}}
    results = {}
    # dataset-vectors serves a dataset's own vectors (tests/data/test_literature.py); precomputed reads files
    # (tests/embeddings/test_precomputed.py): neither reads the encoders this test is about
    for method in [m for m in METHODS if m not in ("dataset-vectors", "precomputed")]:
        out = tmp_path / f"{method}.itememb"
        own = {"simclr_views": 2} if method == "image-simclr" else {}
        emb, quality = embed(data_dir, method, out, **options, **own)
        assert json.loads((tmp_path / f"{method}.itememb.quality.json").read_text())["method"] == method
        np.testing.assert_allclose(read_itememb(out).vectors, emb.vectors)
        assert np.isfinite(emb.vectors).all()
        results[method] = (emb, quality)
    # image-only methods skip the items without an image; the others cover the catalogue
    assert len(results["raw-image"][0].item_ids) == len(results["image-simclr"][0].item_ids) < n_items
    assert all(len(results[m][0].item_ids) == n_items for m in ("raw-text", "text-nce", "text-triplet", "copurchase", "clip"))
    # a re-run is served from the cache
    _, again = embed(data_dir, "raw-text", tmp_path / "again.itememb", **options)
    assert again.encoders["text"]["encoded"] == 0 and again.encoders["text"]["cached"] == n_items
    # training on augmented views separates held-out views of one image from views of another
    simclr = results["image-simclr"][1].training
    assert simclr.heldout_after.gap > simclr.heldout_before.gap
    triplet = results["text-triplet"][1].training
    assert triplet.heldout_triplet_accuracy_after["all"] >= triplet.heldout_triplet_accuracy_before["all"]
    # attribute sentences retrieve items of that type/colour/gender from raw MiniLM vectors
    assert results["raw-text"][1].base.text_to_item["recall@10"] > 0.5
    assert results["clip"][1].trained.image_to_item and results["clip"][1].trained.text_to_item
    clip = results["clip"][1].training
    assert clip.heldout_after.gap > 0.05


@pytest.mark.slow
def test_composed_retrieval_reports_learner_and_baselines(tmp_path):
    from recsys_cl.embeddings import COMPOSED_METHODS, ComposedResult, composed_retrieval

    data_dir = build_styles(tmp_path, images=True, missing_image_every=7)
    result = composed_retrieval(data_dir, tmp_path / "composed.json", cache_dir=str(tmp_path / "cache"),
                                train={"epochs": 20, "batch_size": 32})
    assert ComposedResult.read(tmp_path / "composed.json") == result and result.n_queries > 0
    for part in COMPOSED_METHODS:
        assert result.scores(part)["n_queries"] == result.n_heldout_queries > 0
        assert 0.0 <= result.scores(part)["recall@10"] <= 1.0
    # the fused learner must do better than the reference image alone (which ignores the change)
    assert result.fused_learner["recall@10"] > result.image_only["recall@10"]
