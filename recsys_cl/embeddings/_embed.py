"""``learn``: item embeddings and their quality from an item table in memory (a notebook's entry);
``embed``: the same from a prepared dataset folder, with the files written at the edge."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.data import PreparedDataset, load_dataset
from recsys_cl.files import staged_outputs
from recsys_cl.embeddings import _encoders as enc
from recsys_cl.embeddings._catalogue import encode_item_images, encode_item_texts, image_paths
from recsys_cl.embeddings._evaluation import EvaluationSets
from recsys_cl.embeddings._finetune import check_finetune
from recsys_cl.embeddings._io import ItemEmbeddings, read_itememb, write_itememb
from recsys_cl.embeddings._learners import Learner, LearnerInputs, create, learner_class
from recsys_cl.embeddings._options import EmbedOptions
from recsys_cl.embeddings._quality import detect_collapse
from recsys_cl.embeddings._records import EmbeddingQuality
from recsys_cl.embeddings._train import cpu_threads
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress, no_stage_progress


def learn(
    method: str,
    items: pl.DataFrame,
    interactions: pl.DataFrame | None = None,
    *,
    options: EmbedOptions | None = None,
    seed: int | None = None,
    device: str | None = None,
    image_root: str | Path | None = None,
    source: str = "items",
    progress: StageProgress | None = None,
    given_vectors: ItemEmbeddings | None = None,
    **overrides: Any,
) -> tuple[ItemEmbeddings, EmbeddingQuality]:
    """Item embeddings of ``items`` (the ``.item`` layout: ``item_id``, ``text``, ``image_path``, attribute
    columns) by ``method``, and their quality; nothing is read from or written to disk but the encoder cache.

    ``interactions`` (``user_id``, ``item_id``, ``timestamp`` in seconds): training purchases, for the
    co-purchase learner and the co-purchase quality pairs; pass only a split's training part, so held-out
    purchases never leak into the embedding. ``image_path`` values are relative to ``image_root`` and must
    stay inside it. ``options`` / ``overrides`` are the learner's typed options (``train`` may be a dict);
    ``seed`` drives every random draw and ``device`` where encoders and training run (None: the options'
    ``train.seed``, default 0, and ``train.device``, default auto). ``source`` names the items in errors.
    Image-only methods embed only items with an image. With ``train.finetune_layers`` N > 0 the last N
    encoder layers train with the head (``_finetune``). ``given_vectors``: the item vectors a dataset brought,
    for ``dataset-vectors`` (``embed`` reads them from the dataset folder).
    """
    started = time.perf_counter()
    learner = create(method, options, seed=seed, device=device, **overrides)
    opts = learner.options
    check_finetune(method, opts.text_model, opts.image_model, opts.train)
    if learner.reads_interactions and interactions is None:
        raise InputError(f"{method} needs training interactions (user_id, item_id, timestamp); none were given")
    if learner.reads_dataset_vectors and given_vectors is None:
        raise InputError(f"{method} needs the dataset's item vectors (given_vectors=...); none were given")
    # Encoders and training at ``train.cpu_threads`` (1 by default): with another process on the
    # second core, MiniLM ran at 33 texts/s on torch's 2 threads against 300/s on 1 (idle, 2 threads
    # reach ~450/s); raise it on a machine of your own.
    with cpu_threads(opts.train):
        return _learn(learner, items, interactions, image_root, source, progress or no_stage_progress, started, given_vectors)


def _learn(learner: Learner, items: pl.DataFrame, interactions: pl.DataFrame | None, image_root: str | Path | None,
           source: str, progress: StageProgress, started: float,
           vectors: ItemEmbeddings | None = None) -> tuple[ItemEmbeddings, EmbeddingQuality]:  # fmt: skip
    opts = learner.options
    if "item_id" not in items.columns:
        raise InputError(f"{source}: no item_id column")
    item_ids = items["item_id"].to_numpy().astype(str)
    rng = np.random.default_rng(opts.train.seed)
    encoders: dict[str, dict] = {}
    text_vectors = image_vectors = paths = None
    image_mask = np.ones(len(items), dtype=bool)
    if learner.reads_images:  # refuse an image_path outside image_root before any encoding
        paths = image_paths(items, image_root, source)
    if learner.reads_text:
        text_vectors, encoders["text"] = encode_item_texts(items, opts, source, progress)
    if paths is not None:
        image_vectors, image_mask, encoders["image"] = encode_item_images(paths, opts, source, image_root, progress)

    # Items scored: image-only methods have vectors only where there is an image.
    keep = image_mask if learner.image_only else np.ones(len(items), dtype=bool)
    given = None
    if vectors is not None and learner.reads_dataset_vectors:  # the dataset's own vectors: items that have one
        given, keep = vectors.aligned(item_ids)
        if not keep.any():
            raise InputError(f"{source}: none of the items has a vector in {vectors.method!r} (ids do not match)")
    evaluation = EvaluationSets(items, keep, interactions, opts)
    # learners that read no encoder nor dataset vectors (precomputed): their own vectors are scored as the base, after fit
    base = image_vectors if learner.image_only else given if given is not None else text_vectors
    text_queries = None
    if evaluation.queries is not None and text_vectors is not None and opts.text_model.lower() != "tfidf":
        # text→item queries are attribute sentences ("Men Black Tshirts"), encoded like the item texts
        text_queries, _ = enc.encode_texts(
            evaluation.query_texts(), opts.text_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
            device=opts.train.device,
        )
    base_quality = None
    if base is not None:
        base_quality = evaluation.score(base[keep], text_queries=None if learner.image_only else text_queries)

    learned = learner.fit(LearnerInputs(items, source, keep, text_vectors, image_vectors, image_mask, paths, evaluation,
                                        rng, progress, given))  # fmt: skip
    if base_quality is None:
        base_quality = evaluation.score(learned.vectors)
    trained = collapse = None
    training = learned.training
    if training is not None:
        trained = evaluation.score(
            learned.vectors,
            text_queries=learned.text_space(text_queries, evaluation.query_texts())
            if learned.text_space is not None and text_queries is not None else None,
            image_queries=learned.image_queries,
            image_mask=image_mask[keep],
        )
        if training.heldout_after is not None:
            collapse = detect_collapse(training.heldout_after, training.heldout_before)

    emb = ItemEmbeddings(item_ids[keep], learned.vectors.astype(np.float32), learner.name)
    quality = EmbeddingQuality(
        method=learner.name, n_items=len(items), encoders=encoders, base_modality=_base_modality(learner),
        base=base_quality, evaluation=evaluation.describe(), trained=trained, n_embedded=len(emb.item_ids),
        n_without_vector=int((~keep).sum()), finetune_layers=opts.train.finetune_layers, dim=emb.dim,
        options=opts.model_dump(mode="json"), seconds=time.perf_counter() - started, training=training, collapse=collapse,
        inputs=learned.inputs,
    )  # fmt: skip
    return emb, quality


def _base_modality(learner: Learner) -> str:
    """What ``quality.base`` scored: the image or text encoder's vectors, or (learners that read neither,
    e.g. precomputed) the learner's own output."""
    return "image" if learner.image_only else "text" if learner.reads_text else learner.name


def embed(
    data_dir: str | Path,
    method: str,
    out: str | Path,
    *,
    protocol: str = "loo",
    parts: tuple[str, ...] = ("train",),
    options: EmbedOptions | None = None,
    seed: int | None = None,
    device: str | None = None,
    progress: StageProgress | None = None,
    **overrides: Any,
) -> tuple[ItemEmbeddings, EmbeddingQuality]:
    """``learn`` on a prepared dataset folder; writes ``out`` (via ``write_itememb``) and
    ``out + '.quality.json'`` (``EmbeddingQuality.write``) and returns both.

    Co-purchase pairs come only from ``protocol``'s training part, so held-out purchases never leak into
    the embedding; ``parts`` merges more of the split into it (``("train", "valid", "test")``: every
    interaction, for a model fitted on all of them, as ``recsys-cl recommend --fit-on all`` does). Datasets
    prepared without splits (styles: items only) have no interactions. Images are read from the raw folder
    the dataset was prepared from.
    """
    started = time.perf_counter()
    learner = learner_class(method)
    created = create(method, options, seed=seed, device=device, **overrides)  # bad options fail before any reading
    dataset = load_dataset(data_dir)
    item_file = dataset.directory / f"{dataset.name}.item"
    items = dataset.items
    if items is None:
        why = " (source table without an items: mapping: it has no item content)" if dataset.meta.get("source") == "table" else ""
        raise InputError(f"{item_file}: file not found: embeddings need the item table{why}")
    given = dataset_vectors(dataset, created.options.vectors) if learner.reads_dataset_vectors else None  # type: ignore[attr-defined]
    interactions = training_interactions(dataset, protocol, parts)
    if learner.reads_interactions and interactions is None:
        raise InputError(f"{dataset.directory}: {method} needs training interactions, and this dataset was prepared "
                         "without splits (items only)")  # fmt: skip
    emb, quality = learn(
        method, items, interactions, options=options, seed=seed, device=device,
        image_root=dataset.raw_dir or dataset.directory, source=str(item_file), progress=progress, given_vectors=given,
        **overrides,
    )  # fmt: skip
    quality = dataclasses.replace(
        quality, dataset=dataset.name, protocol=protocol, seconds=time.perf_counter() - started,
        parts=None if interactions is None else list(parts), interactions=None if interactions is None else interactions.height,
    )  # fmt: skip
    out = Path(out)
    with staged_outputs(out.parent) as staging:  # the four files appear together or not at all (a full disk)
        write_itememb(emb, staging / out.name)
        quality.write(staging / f"{out.name}.quality.json")
    return emb, quality


def dataset_vectors(dataset: PreparedDataset, key: str) -> ItemEmbeddings:
    """The item vectors ``key`` a dataset brought (``<name>.<key>.itememb``: mmrec's image / text, recbole's
    float_seq fields), named ``key``."""
    have = sorted(dataset.meta.get("item_vectors") or {})
    if key not in have:
        raise InputError(f"{dataset.directory}: dataset {dataset.name} has no item vectors {key!r} (it has: "
                         f"{', '.join(have) or 'none'}; sources mmrec and recbole bring them)")  # fmt: skip
    return read_itememb(dataset.directory / f"{dataset.name}.{key}.itememb", key)


def training_interactions(dataset: PreparedDataset, protocol: str, parts: tuple[str, ...] = ("train",)) -> pl.DataFrame | None:
    """``protocol``'s training part (with ``parts`` merged into it), or None for a dataset prepared without
    splits (styles: items only)."""
    if dataset.meta and not dataset.protocols:
        return None
    return dataset.split(protocol).train if parts == ("train",) else dataset.merged_split(protocol, parts).train
