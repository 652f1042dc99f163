"""Composed retrieval: the query learners and item encoder, their loss, the typed options, the result
record's shortfalls and the table that reports them, and (on synthetic styles) that every fused learner
at least matches the better single modality on held-out references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from test_mining import _styles_items

from recsys_cl.embeddings._composed import composed_options, composed_queries
from recsys_cl.embeddings._composers import COMPOSERS, ItemEncoder, multi_positive_info_nce
from recsys_cl.embeddings._losses import symmetric_info_nce
from recsys_cl.embeddings._mining import ATTRIBUTE_TABLE
from recsys_cl.embeddings._records import (
    COMPOSED_ALL_METHODS,
    COMPOSED_FUSED,
    COMPOSED_SINGLE_MODALITY,
    ComposedResult,
    Shortfall,
)
from recsys_cl.embeddings._train import TrainConfig
from recsys_cl.errors import InputError
from recsys_cl.reporting import composed_result_table


def _unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_every_query_learner_maps_into_the_text_space_and_the_text_skips_start_at_the_baseline():
    config, options = TrainConfig(hidden_dim=8), composed_options(None, {})
    image, text = _unit(5, 6, 0), _unit(5, 4, 1)
    for name, make in COMPOSERS.items():
        module = make(6, 4, config, options).eval()
        assert module(image, text).shape == (5, 4), name
    # untrained, the text paths are the text-only baseline and the item side is the items' text vectors
    for name in ("text_learner", "fused_learner", "tirg"):
        assert torch.equal(COMPOSERS[name](6, 4, config, options).eval()(image, text), text), name
    assert torch.equal(ItemEncoder(6, 4, config).eval()(image, text), text)


def test_multi_positive_info_nce_by_hand():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    diagonal = torch.eye(3, dtype=torch.bool)
    # only the diagonal positive: CLIP's symmetric InfoNCE
    assert torch.isclose(multi_positive_info_nce(queries, items, diagonal, 0.5), symmetric_info_nce(queries, items, 0.5))
    # query 0 and 2 share a key: items 0 and 2 are positives of both
    shared = diagonal.clone()
    shared[0, 2] = shared[2, 0] = True
    cos = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(items, dim=1).T / 0.5
    expected = 0.0
    for scores, mask in ((cos, shared), (cos.T, shared.T)):
        for row in range(3):
            positives = [math.exp(scores[row, j]) for j in range(3) if mask[row, j]]
            expected += -math.log(sum(positives) / sum(math.exp(s) for s in scores[row])) / 6
    assert multi_positive_info_nce(queries, items, shared, 0.5).item() == pytest.approx(expected, rel=1e-5)
    assert multi_positive_info_nce(queries, items, torch.ones(3, 3, dtype=torch.bool), 0.5).item() == pytest.approx(0.0, abs=1e-6)


def test_training_references_get_more_queries_held_out_ones_keep_one():
    items = _styles_items()
    candidates = np.arange(len(items))
    rng = np.random.default_rng(0)
    first = composed_queries(items, ATTRIBUTE_TABLE["styles"], candidates, rng)
    training = first["reference"][::2]
    more = composed_queries(items, ATTRIBUTE_TABLE["styles"], candidates, rng, 3, references=training)
    assert np.array_equal(more["reference"], np.repeat(training, 3))  # only the asked references, 3 each
    rows = items.to_dicts()
    for ref, key in zip(more["reference"], more["key"]):
        atype, colour, gender = key.split("|")
        assert (atype, gender) == (rows[ref]["articleType"], rows[ref]["gender"]) and colour != rows[ref]["baseColour"]


def test_options_of_the_learners_are_typed_with_defaults():
    opts = composed_options(None, {"combiner": {"dropout": 0.2}, "tirg": {"residual_weight": 1.0}})
    assert (opts.combiner.dropout, opts.combiner.projection_dim, opts.tirg.residual_weight) == (0.2, 512, 1.0)
    assert opts.train_queries_per_reference == 2 and composed_options(None, {}).combiner.dropout == 0.5
    with pytest.raises(InputError, match=r"composed retrieval option: combiner.dropuot: Extra inputs are not permitted"):
        composed_options(None, {"combiner": {"dropuot": 0.2}})
    with pytest.raises(InputError, match="train_queries_per_reference: Input should be greater than or equal to 1"):
        composed_options(None, {"train_queries_per_reference": 0})


def _metrics(recall10: float, ndcg10: float) -> dict[str, int | float]:
    return {"n_queries": 40, "recall@5": recall10 / 2, "recall@10": recall10, "ndcg@5": ndcg10 / 2, "ndcg@10": ndcg10}


def _result(**methods: dict[str, int | float]) -> ComposedResult:
    return ComposedResult(n_gallery=100, n_queries=80, n_heldout_queries=40, templates=[], encoders={}, history=[],
                          options={"retrieval_ks": [5, 10]}, seconds=1.0, dataset="s", **methods)  # fmt: skip


def test_shortfalls_name_the_best_single_modality_and_the_gap():
    result = _result(text_only=_metrics(0.70, 0.50), image_only=_metrics(0.10, 0.05), text_learner=_metrics(0.80, 0.60),
                     image_learner=_metrics(0.20, 0.10), fused_learner=_metrics(0.90, 0.70), tirg=_metrics(0.75, 0.60),
                     combiner=_metrics(0.80, 0.65))  # fmt: skip
    assert result.methods == COMPOSED_ALL_METHODS
    # tirg loses on recall to the text learner (the best single modality), ties it on nDCG; the combiner ties recall
    assert result.shortfalls(["recall@10", "ndcg@10"]) == [Shortfall("tirg", "text_learner", "recall@10", 0.75, 0.80)]
    assert result.shortfalls(["recall@10"])[0].gap == pytest.approx(0.05)
    # a file of the first layout: the fused learner against the two baselines
    old = _result(text_only=_metrics(0.70, 0.50), image_only=_metrics(0.10, 0.05), fused_learner=_metrics(0.30, 0.20))
    assert old.methods == ("text_only", "image_only", "fused_learner") and old.scores("tirg") == {}
    assert [(s.fused, s.single, s.metric) for s in old.shortfalls()] == [
        ("fused_learner", "text_only", m) for m in ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
    ]


def test_table_lists_every_method_and_says_which_fused_method_loses_and_by_how_much():
    result = _result(text_only=_metrics(0.70, 0.50), image_only=_metrics(0.10, 0.05), text_learner=_metrics(0.80, 0.60),
                     image_learner=_metrics(0.20, 0.10), fused_learner=_metrics(0.90, 0.70), tirg=_metrics(0.75, 0.60),
                     combiner=_metrics(0.80, 0.65))  # fmt: skip
    table = composed_result_table(result)
    assert [row[0] for row in table.rows] == [m.replace("_", " ") for m in COMPOSED_ALL_METHODS]
    assert table.rows[5] == ["tirg", "0.3750", "0.7500", "0.3000", "0.6000"]
    assert table.note == ("Fused methods that lose to a single modality: tirg: recall@5 0.3750 vs text learner 0.4000 "
                          "(-0.0250), recall@10 0.7500 vs text learner 0.8000 (-0.0500).")  # fmt: skip
    winning = _result(text_only=_metrics(0.70, 0.50), image_only=_metrics(0.10, 0.05), fused_learner=_metrics(0.90, 0.70))
    assert composed_result_table(winning).note == "Every fused method matches or beats every single-modality method on every metric."
    assert (4, 2) in composed_result_table(result).bold  # fused learner's recall@10 is the best


def test_a_result_with_every_method_reads_back_equal(tmp_path):
    result = _result(text_only=_metrics(0.70, 0.50), image_only=_metrics(0.10, 0.05), fused_learner=_metrics(0.9, 0.7),
                     tirg=_metrics(0.75, 0.60), histories={"tirg": []})  # fmt: skip
    result.write(tmp_path / "c.json")
    assert ComposedResult.read(tmp_path / "c.json") == result
    data = json.loads((tmp_path / "c.json").read_text())
    assert "combiner" not in data and data["tirg"]["recall@10"] == 0.75
    data["tirg"]["recall@10"] = "high"
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"c.json: tirg.recall@10\.int: Input should be a valid integer"):
        ComposedResult.read(tmp_path / "c.json")


def test_method_lists_are_disjoint_and_complete():
    assert set(COMPOSED_SINGLE_MODALITY).isdisjoint(COMPOSED_FUSED)
    assert set(COMPOSERS) | {"text_only", "image_only"} == set(COMPOSED_ALL_METHODS)


#: how much a fused learner may trail the best single-modality method (about one of ~57 held-out queries)
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def synthetic_styles(tmp_path_factory):
    """300 synthetic styles products with images, prepared; an encoder cache shared by the seeds."""
    from recsys_cl.data import prepare
    from recsys_cl.data._dataset import load_dataset
    from recsys_cl.data.synth import generate_styles

    root = tmp_path_factory.mktemp("composed-styles")
    generate_styles(root / "raw", products=300, seed=0, images=True)
    prepare("styles", root / "atomic", raw=root / "raw", options={"name": "styles-synth"})
    dataset = load_dataset(root / "atomic" / "styles-synth")
    return dataset.items, dataset.raw_dir, str(root / "cache")


# 32 s of CPU in a fresh process (imports, ranx's numba compile, MiniLM and EfficientNet-Lite0 over 290
# images, five learners for 10 epochs); seeds 1 and 2 reuse the encodings (~14 s each on busy cores)
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_every_fused_learner_matches_the_better_single_modality(synthetic_styles, seed):
    from recsys_cl.embeddings import learn_composed

    items, image_root, cache = synthetic_styles
    result = learn_composed(items, image_root, seed=seed, cache_dir=cache, train={"epochs": 10})
    assert result.methods == COMPOSED_ALL_METHODS and result.n_heldout_queries >= 50
    losses = [s for s in result.shortfalls(["recall@10", "ndcg@10"]) if s.gap > TOLERANCE]
    assert not losses, composed_result_table(result).note
    # and the learning is not vacuous: the change is applied (the reference image alone does much worse)
    assert result.scores("fused_learner")["recall@10"] > result.scores("image_only")["recall@10"] + 0.3
