"""Item content as modalities: one or several item-embedding matrices aligned to a split's items, and
the sparse top-k item-item graphs the multimodal graph models (FREEDOM) build from them.

What a content-aware model's ``fit`` accepts as ``item_embeddings`` (:data:`Modalities`):

* one :class:`ItemEmbeddings` - a single modality named by its ``method``;
* a mapping ``name -> ItemEmbeddings`` (e.g. ``{"text": ..., "image": ..., "clip": ...}``) - one modality
  per entry, in the mapping's order.

Each modality is aligned to the split's item vocabulary. Items without a vector in a modality get a
zero row and ``mask == False``; how many there are is logged once per modality (a warning) and kept in
:attr:`ItemModality.missing`, and each model says in its docstring what happens to them. A modality that
covers none of the split's items is an :class:`InputError` (the ids do not match: wrong file or dataset).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError

log = logging.getLogger(__name__)

#: ``fit``'s ``item_embeddings`` for multimodal models: one modality, or several by name
Modalities = ItemEmbeddings | Mapping[str, ItemEmbeddings]


@dataclasses.dataclass(frozen=True)
class ItemModality:
    """One modality aligned to a split's items: ``vectors[i]`` is item ``i``'s vector when ``mask[i]``."""

    name: str
    vectors: np.ndarray  # (n_items, d) float32, zero rows where mask is False
    mask: np.ndarray  # (n_items,) bool

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def missing(self) -> int:
        """Items of the split without a vector in this modality."""
        return int(len(self.mask) - np.count_nonzero(self.mask))

    def coverage(self) -> dict[str, int]:
        """What a run record keeps: dimension, items of the split, items without a vector."""
        return {"dim": self.dim, "items": len(self.mask), "missing": self.missing}


def aligned_modalities(
    item_ids: np.ndarray, item_embeddings: Modalities | None, model: str, missing_effect: str
) -> list[ItemModality]:
    """Align every modality of ``item_embeddings`` to ``item_ids`` (the split's item vocabulary).

    ``missing_effect`` completes the warning about items without a vector ("they ..."), so the log says
    what the model does with them. Zero vectors count as missing (they have no direction).
    """
    if item_embeddings is None:
        raise InputError(f"{model} needs item embeddings (one .itememb file, or several as modalities)")
    if isinstance(item_embeddings, ItemEmbeddings):
        named = {item_embeddings.method: item_embeddings}
    elif isinstance(item_embeddings, Mapping):
        named = dict(item_embeddings)
        if not named:
            raise InputError(f"{model}: no modality given (an empty mapping of item embeddings)")
    else:
        raise InputError(
            f"{model}: item embeddings must be ItemEmbeddings or a mapping name -> ItemEmbeddings "
            f"(got {type(item_embeddings).__name__})"
        )
    out = []
    for name, emb in named.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{model}: modality names must be non-empty strings (got {name!r})")
        if not isinstance(emb, ItemEmbeddings):
            raise InputError(f"{model}: modality {name!r} is not an ItemEmbeddings (got {type(emb).__name__})")
        vectors, mask = emb.aligned(item_ids)
        if not np.isfinite(vectors).all():
            raise InputError(f"{model}: modality {name!r} has non-finite values (NaN or inf) in its vectors")
        mask &= np.linalg.norm(vectors, axis=1) > 0
        modality = ItemModality(name, vectors, mask)
        if not mask.any():
            raise InputError(
                f"{model}: modality {name!r} ({emb.method}) has a vector for none of the {len(item_ids)} items "
                "of the split (item ids do not match?)"
            )
        if modality.missing:
            log.warning(
                "%s: modality %r has no vector for %d of %d items (%.1f%%); they %s",
                model, name, modality.missing, len(mask), 100.0 * modality.missing / len(mask), missing_effect,
            )
        out.append(modality)
    return out


def item_knn_graph(vectors: np.ndarray, mask: np.ndarray, k: int, *, device: str = "cpu") -> sp.csr_matrix:
    """Binary (n_items, n_items) CSR: row ``i`` holds the ``k`` items of highest cosine similarity to item
    ``i`` (itself included, as in FREEDOM's graph), among the items with ``mask`` True.

    Built by the shared full-ranking top-K over unit vectors, chunk by chunk of rows: memory stays at
    one chunk of scores plus the (n, k) result, never a dense items x items matrix. Items without a
    vector have an empty row and are nobody's neighbour. Ties go to the lower item index.
    """
    from recsys_cl.evaluation import topk_from_factors
    n = len(vectors)
    norms = np.linalg.norm(vectors, axis=1)
    has = mask & (norms > 0)
    unit = np.zeros_like(vectors, dtype=np.float32)
    unit[has] = vectors[has] / norms[has, None]
    rows = np.flatnonzero(has)
    never = np.where(has, 0.0, -np.inf).astype(np.float32)  # items without a vector are never neighbours
    neighbours, _ = topk_from_factors(unit, unit, k, users=rows, item_bias=never, device=device)
    found = neighbours >= 0  # fewer than k items with a vector: padding
    row_index = np.repeat(rows, found.sum(axis=1))
    return sp.csr_matrix(
        (np.ones(len(row_index), dtype=np.float32), (row_index, neighbours[found])), shape=(n, n)
    )


def symmetric_normalised(graph: sp.csr_matrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` with ``D`` the row sums of ``A`` (FREEDOM's normalisation of its kNN graphs;
    rows of a k-NN graph all sum to k, so each entry becomes 1/k). Empty rows stay empty."""
    degree = np.asarray(graph.sum(axis=1)).ravel()
    inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree, dtype=np.float64), where=degree > 0)
    scaled = sp.diags(inv_sqrt) @ graph @ sp.diags(inv_sqrt)
    return sp.csr_matrix(scaled, dtype=np.float32)
