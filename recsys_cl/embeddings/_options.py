"""Typed options of the embedding learners: what every learner shares (encoders, held-out quality
sets, training) and each learner's own knobs, as pydantic models that refuse unknown keys."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

from recsys_cl.embeddings._encoders import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from recsys_cl.embeddings._mining import LEVELS
from recsys_cl.embeddings._train import TrainConfig
from recsys_cl.errors import InputError, validated


class EmbedOptions(BaseModel):
    """Options every learner (and composed retrieval) takes besides data, method and output path.

    The held-out quality sets (triplets, co-purchase pairs, retrieval queries) are drawn from these
    alone, so every method's quality JSON scores the same examples."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text_model: str = Field(DEFAULT_TEXT_MODEL, description="sentence-transformers name, or 'tfidf'")
    image_model: str = Field(DEFAULT_IMAGE_MODEL, description="efficientnet_lite0, or a timm name if timm works")
    cache_dir: str | None = None
    use_cache: bool = True
    heldout_share: float = Field(0.2, gt=0, lt=1, description="share of pairs/triplets held out for quality")
    triplet_mix: dict[str, float] = Field(default_factory=lambda: {level: 1.0 for level in LEVELS})
    triplets_per_anchor: int = Field(2, ge=1)
    window_days: float = Field(7.0, gt=0, description="co-purchase window")
    max_pairs: int = Field(200_000, ge=1)
    retrieval_ks: tuple[int, ...] = (5, 10)
    max_queries: int = Field(2000, ge=1, description="queries sampled for retrieval metrics")
    skip_bad_images: bool = Field(
        False, description="an image that cannot be decoded (cut, damaged, a decompression bomb) counts as missing "
        "(counted in the encoder stats) instead of stopping with its item row",
    )
    train: TrainConfig = Field(default_factory=TrainConfig)


class TextNCEOptions(EmbedOptions):
    """text-nce: NT-Xent on each item's nearest text neighbours."""

    neighbours: int = Field(5, ge=1, description="k of the neighbour pairs")


class DatasetVectorsOptions(EmbedOptions):
    """dataset-vectors: which of the dataset's own item vectors (``<name>.<key>.itememb`` in its folder)."""

    vectors: str = Field(..., min_length=1, description="image or text (mmrec), a float_seq field of .item (recbole)")


class SimCLROptions(EmbedOptions):
    """image-simclr: NT-Xent on augmented views of each image."""

    simclr_views: int = Field(2, ge=1, description="augmented view pairs per image")
    colour_jitter: bool = Field(False, description="off by default: paper 002 argues colour should stay")


def options_for(
    model: type[EmbedOptions],
    options: EmbedOptions | None,
    overrides: Mapping[str, Any],
    where: str,
    *,
    seed: int | None = None,
    device: str | None = None,
) -> EmbedOptions:
    """``options`` (any EmbedOptions; only the fields it set carry over) with ``overrides`` on top,
    validated as ``model``; ``train`` merges key by key. ``seed`` / ``device`` (None: keep) set
    ``train.seed`` / ``train.device``, and may not contradict a value the options set explicitly.
    """
    values = options.model_dump(exclude_unset=True) if options is not None else {}
    overrides = dict(overrides)
    train = {**values.pop("train", {}), **dict(overrides.pop("train", None) or {})}
    for key, value in (("seed", seed), ("device", device)):
        if value is None:
            continue
        if key in train and train[key] != value:
            raise InputError(f"{where}: {key} {value!r} contradicts train.{key} {train[key]!r}; give it once")
        train[key] = value
    merged = {**values, **overrides}
    if train:
        merged["train"] = train
    return validated(model, merged, where)
