"""Composed retrieval (paper 003): a reference item's image plus a modification text ("in red
instead of black") must retrieve items with the reference's attributes and the change applied.

Queries are built from the attribute table (change the colour, keep type and gender). The learner
is a query encoder fusing the reference image and the modification text (an MLP over both base
vectors, trained with symmetric InfoNCE against the target's image); the plain baselines are
text-only (the modification text against item texts) and image-only (the reference image alone).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from recsys_cl.data._dataset import load_dataset
from recsys_cl.embeddings import _encoders as enc
from recsys_cl.embeddings._catalogue import encode_item_images, encode_item_texts, image_paths
from recsys_cl.embeddings._losses import symmetric_info_nce
from recsys_cl.embeddings._mining import _codes, attribute_roles, split_rows
from recsys_cl.embeddings._options import EmbedOptions, options_for
from recsys_cl.embeddings._quality import retrieval_metrics
from recsys_cl.embeddings._records import COMPOSED_METHODS, ComposedResult
from recsys_cl.embeddings._train import (
    ProjectionHead,
    cpu_threads,
    fit,
    make_head,
    project,
    to_device,
)
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress, no_stage_progress

__all__ = ["COMPOSED_METHODS", "ComposedResult", "composed_options", "composed_queries", "composed_retrieval", "learn_composed"]

TEMPLATES = (
    "in {new} instead of {old}",
    "unlike this {old} {type}, I want a {new} one",
    "the same {type} but {new}",
)


def composed_queries(items: pl.DataFrame, roles: dict[str, str], candidates: np.ndarray, rng: np.random.Generator,
                     per_reference: int = 1) -> dict[str, np.ndarray]:
    """(reference row, target key, modification text) for references among ``candidates`` rows;
    the target keeps type and gender and takes another colour that exists among the candidates."""
    t, g, c = (items[roles[r]].to_numpy().astype(str) for r in ("type", "gender", "colour"))
    cand = np.zeros(len(items), dtype=bool)
    cand[candidates] = True
    refs, keys, texts = [], [], []
    for r in candidates.tolist():
        others = np.flatnonzero(cand & (t == t[r]) & (g == g[r]) & (c != c[r]))
        for _ in range(per_reference if len(others) else 0):
            target = int(rng.choice(others))
            template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
            refs.append(r)
            keys.append(f"{t[target]}|{c[target]}|{g[target]}")
            texts.append(template.format(new=c[target].lower(), old=c[r].lower(), type=t[r].lower()))
    return {"reference": np.asarray(refs, dtype=np.int64), "key": np.asarray(keys, dtype=str), "text": np.asarray(texts, dtype=str)}


class FusionQuery(nn.Module):
    """(reference image, modification text) base vectors -> a query in the learned item space."""

    def __init__(self, image_dim: int, text_dim: int, hidden: int, out: int, dropout: float) -> None:
        super().__init__()
        self.net = ProjectionHead(image_dim + text_dim, hidden, out, dropout)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, text], dim=1))


def composed_options(options: EmbedOptions | None, overrides: dict[str, Any], *, seed: int | None = None,
                     device: str | None = None) -> EmbedOptions:
    """The options with ``overrides`` applied (``seed`` / ``device`` as in ``learn``); InputError when
    composed retrieval cannot use them."""
    opts = options_for(EmbedOptions, options, overrides, "composed retrieval option", seed=seed, device=device)
    if opts.text_model.lower() == "tfidf":  # fitted per call: modification texts and item texts get different spaces
        raise InputError("composed retrieval needs a sentence-transformers text model, not tfidf")
    if opts.train.finetune_layers:
        raise InputError("composed retrieval trains over frozen base vectors only: finetune_layers must be 0")
    return opts


def learn_composed(
    items: pl.DataFrame,
    image_root: str | Path,
    *,
    options: EmbedOptions | None = None,
    seed: int | None = None,
    device: str | None = None,
    source: str = "items",
    progress: StageProgress | None = None,
    **overrides: Any,
) -> ComposedResult:
    """Recall@K / nDCG@K of composed queries on held-out references of ``items`` (the ``.item`` layout
    with attribute columns; ``image_path`` relative to ``image_root``): fused learner vs text-only and
    image-only baselines. In memory; ``seed`` / ``device`` / ``source`` as in ``learn``."""
    started = time.perf_counter()
    opts = composed_options(options, overrides, seed=seed, device=device)
    with cpu_threads(opts.train):  # as in learn(): encoders and training at train.cpu_threads
        return _learn_composed(items, image_root, opts, source, progress or no_stage_progress, started)


def composed_retrieval(
    data_dir: str | Path,
    out: str | Path | None = None,
    *,
    options: EmbedOptions | None = None,
    seed: int | None = None,
    device: str | None = None,
    progress: StageProgress | None = None,
    **overrides: Any,
) -> ComposedResult:
    """``learn_composed`` on a prepared dataset folder (images from its raw folder); writes the result
    to ``out`` (JSON, ``ComposedResult.write``) when given; returns it."""
    started = time.perf_counter()
    composed_options(options, overrides, seed=seed, device=device)  # bad options fail before any reading
    dataset = load_dataset(data_dir)
    item_file = dataset.directory / f"{dataset.name}.item"
    if dataset.items is None:
        raise InputError(f"{item_file}: file not found (composed retrieval needs the item table)")
    result = learn_composed(dataset.items, dataset.raw_dir or dataset.directory, options=options, seed=seed,
                            device=device, source=str(item_file), progress=progress, **overrides)  # fmt: skip
    result = dataclasses.replace(result, dataset=dataset.name, seconds=time.perf_counter() - started)
    if out is not None:
        result.write(out)
    return result


def _learn_composed(items: pl.DataFrame, image_root: str | Path, opts: EmbedOptions, source: str,
                    tick: StageProgress, started: float) -> ComposedResult:  # fmt: skip
    roles = attribute_roles(items.columns)
    if roles is None:
        raise InputError(f"{source}: composed retrieval needs the attribute columns of a known shape (styles or H&M)")
    paths = image_paths(items, image_root, source)  # refuse an image_path outside image_root before any encoding
    text_vectors, text_stats = encode_item_texts(items, opts, source, tick)
    image_vectors, mask, image_stats = encode_item_images(paths, opts, source, image_root, tick)
    rng = np.random.default_rng(opts.train.seed)
    gallery = np.flatnonzero(mask)  # items with an image: the retrievable catalogue
    queries = composed_queries(items, roles, gallery, rng)
    if len(queries["reference"]) < 4:
        raise InputError(f"{source}: {len(queries['reference'])} composed queries (items with an image and a same-type "
                         "other-colour sibling with an image); need at least 4")  # fmt: skip
    # hold out by reference item, so held-out references were never seen in training
    ref_codes = _codes(queries["reference"].astype(str))
    train_refs, held_refs = split_rows(int(ref_codes.max()) + 1, opts.heldout_share, rng)
    held = np.isin(ref_codes, held_refs)
    mod_vectors, _ = enc.encode_texts(queries["text"].tolist(), opts.text_model, cache_dir=opts.cache_dir,
                                      use_cache=opts.use_cache, device=opts.train.device)
    t, g, c = (items[roles[r]].to_numpy().astype(str) for r in ("type", "gender", "colour"))
    item_keys = np.char.add(np.char.add(np.char.add(np.char.add(t, "|"), c), "|"), g)[gallery]
    position = np.full(len(items), -1)
    position[gallery] = np.arange(len(gallery))
    refs = queries["reference"]

    def score(query_vecs: np.ndarray, item_vecs: np.ndarray, rows: np.ndarray) -> dict:
        return retrieval_metrics(query_vecs[rows], item_vecs, queries["key"][rows], item_keys,
                                 query_rows=position[refs[rows]], ks=opts.retrieval_ks)

    held_rows = np.flatnonzero(held)
    text_only = score(mod_vectors, text_vectors[gallery], held_rows)
    image_only = score(image_vectors[refs], image_vectors[gallery], held_rows)
    # learner: fused query vs an item head over the target's image vector
    cfg = opts.train
    xi, xt = to_device(image_vectors, cfg), to_device(mod_vectors, cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        fusion = FusionQuery(image_vectors.shape[1], mod_vectors.shape[1], cfg.hidden_dim, cfg.out_dim, cfg.dropout)
    item_head = make_head(image_vectors.shape[1], cfg, salt=1)
    modules = nn.ModuleDict({"fusion": fusion, "item": item_head}).to(xi.device)
    # a training target: one gallery item with the target key (drawn once, seeded)
    by_key: dict[str, np.ndarray] = {}
    for k in np.unique(queries["key"]):
        by_key[k] = gallery[item_keys == k]
    targets = np.array([int(rng.choice(by_key[k])) for k in queries["key"]], dtype=np.int64)
    examples = np.stack([np.flatnonzero(~held), targets[~held]], axis=1)
    history = fit(modules, examples, lambda r: symmetric_info_nce(
        fusion(xi[refs[r[:, 0]]], xt[r[:, 0]]), item_head(xi[r[:, 1]]), cfg.temperature), cfg, tick,
        what="composed queries of training references")  # fmt: skip
    with torch.no_grad():
        modules.eval()
        fused = torch.nn.functional.normalize(fusion(xi[refs], xt), dim=1).cpu().numpy()
    return ComposedResult(
        n_gallery=len(gallery), n_queries=len(refs), n_heldout_queries=len(held_rows), templates=list(TEMPLATES),
        encoders={"text": text_stats, "image": image_stats}, text_only=text_only, image_only=image_only,
        fused_learner=score(fused, project(item_head, image_vectors[gallery]), held_rows), history=history,
        options=opts.model_dump(mode="json"), seconds=time.perf_counter() - started,
    )  # fmt: skip
