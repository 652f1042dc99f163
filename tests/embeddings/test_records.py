"""EmbeddingQuality and ComposedResult: one writer, one reader; files of the previous writer (d5580f6)
still read; a damaged or foreign file is one InputError naming the file and the key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from recsys_cl.embeddings import (
    ComposedResult,
    DistanceGap,
    EmbeddingQuality,
    EpochLoss,
    SpaceQuality,
)
from recsys_cl.errors import InputError

DATA = Path(__file__).parent / "data"
#: written by d5580f6's embed (copurchase, 15 epochs) and retrieve composed, before these records existed
OLD_QUALITY = DATA / "copurchase.quality.d5580f6.json"
OLD_COMPOSED = DATA / "composed.d5580f6.json"


def test_the_previous_writers_files_read_as_typed_records():
    raw = json.loads(OLD_QUALITY.read_text())
    quality = EmbeddingQuality.read(OLD_QUALITY)
    assert (quality.method, quality.dataset, quality.protocol) == ("copurchase", "hm", "loo")
    assert quality.training is not None and len(quality.training.history) == 15
    assert quality.training.history[0] == EpochLoss(**raw["training"]["history"][0])
    assert quality.training.heldout_after == DistanceGap(**raw["training"]["heldout_after"])
    assert quality.base.copurchase_gap.gap == raw["base"]["copurchase_gap"]["gap"]
    assert quality.trained.retrieval("item_to_item") == raw["trained"]["item_to_item"]
    assert quality.collapse.collapsed is raw["collapse"]["collapsed"] and quality.retrieval_ks == (5, 10)
    composed = ComposedResult.read(OLD_COMPOSED)
    old = json.loads(OLD_COMPOSED.read_text())
    assert composed.scores("fused_learner") == old["fused_learner"] and composed.n_heldout_queries == old["n_heldout_queries"]
    assert isinstance(composed.fused_learner["n_queries"], int)  # counts stay counts


def test_written_records_read_back_equal_and_keep_the_layout(tmp_path):
    quality = EmbeddingQuality.read(OLD_QUALITY)
    quality.write(tmp_path / "q.json")
    assert EmbeddingQuality.read(tmp_path / "q.json") == quality
    # the layout is the previous writer's: every old key is there with its value
    old, new = json.loads(OLD_QUALITY.read_text()), json.loads((tmp_path / "q.json").read_text())
    assert {k: new[k] for k in old} == old
    composed = ComposedResult.read(OLD_COMPOSED)
    composed.write(tmp_path / "c.json")
    assert ComposedResult.read(tmp_path / "c.json") == composed


def test_a_raw_method_has_no_trained_space():
    quality = EmbeddingQuality.read(OLD_QUALITY)
    raw = dataclasses.replace(quality, method="raw-text", trained=None, training=None, collapse=None)
    again = EmbeddingQuality.from_json(raw.to_json())
    assert again.trained is None and again.training is None and again.base == quality.base
    assert SpaceQuality().retrieval("text_to_item") == {}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda q: q["training"]["heldout_after"].update(gap="wide"), "training.heldout_after.gap: Input should be a valid number"),
        (lambda q: q.pop("base_modality"), "base_modality: Field required"),
        (lambda q: q["base"].update(colour_gap=1.0), "base.colour_gap: Unexpected keyword argument"),
        (lambda q: q["training"]["history"][3].pop("train_loss"), "training.history.3.train_loss: Field required"),
    ],
)
def test_a_damaged_quality_file_names_the_file_and_the_key(tmp_path, edit, message):
    data = json.loads(OLD_QUALITY.read_text())
    edit(data)
    path = tmp_path / "q.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as caught:
        EmbeddingQuality.read(path)
    assert str(caught.value).startswith(f"{path}: {message}") and "\n" not in str(caught.value)


def test_truncated_foreign_or_missing_files_are_one_line_errors(tmp_path):
    path = tmp_path / "q.json"
    path.write_text(OLD_QUALITY.read_text()[:300])
    with pytest.raises(InputError, match=r"q.json:\d+: invalid JSON"):
        EmbeddingQuality.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="q.json: Input should be a dictionary"):
        ComposedResult.read(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="not UTF-8"):
        ComposedResult.read(path)
    with pytest.raises(InputError, match="nowhere.json: file not found"):
        EmbeddingQuality.read(tmp_path / "nowhere.json")
    with pytest.raises(InputError, match="n_gallery: Field required"):  # a quality file is not a composed result
        ComposedResult.read(OLD_QUALITY)
