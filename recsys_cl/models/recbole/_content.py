"""Content-aware item tables (``content: init | fuse``) for RecBole models.

* ``init`` - the ID item table(s) start from the content vectors projected to the table's width
  by PCA (numpy SVD), rescaled to the table's initial standard deviation; then training as usual.
* ``fuse`` - item representation = ID embedding + a learned linear projection of the content
  vector (for LightGCN / SGL this is the layer-0 item embedding the graph propagates). Items with
  no training interaction have no ID part (it would only ever be trained as a sampled negative):
  they are represented by their content alone, and so can be ranked. ``id_dropout`` hides a share
  of the ID parts per batch (DropoutNet) and ``item_identity=false`` drops them altogether, so that
  the content projection learns to score items on its own, which is all a cold item has.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys_cl.embeddings import principal_components


def content_module_class() -> type:
    import torch
    from torch import nn

    class FusedItemEmbedding(nn.Module):
        """Drop-in for an item ``nn.Embedding``: ``weight`` and ``__call__(ids)`` return
        ID embedding + ``projection(content)`` (zero for items without a vector).

        RecBole's models read their item table both ways (``self.item_embedding.weight`` in
        LightGCN / SGL / BPR full ranking, ``self.item_embedding(ids)`` in losses), so swapping
        the module fuses content everywhere without copying their forward passes.
        """

        def __init__(self, id_table: nn.Embedding, content: np.ndarray, mask: np.ndarray, trained: np.ndarray,
                     id_dropout: float = 0.0) -> None:
            super().__init__()
            self.id_dropout = id_dropout
            self.id_weight = nn.Parameter(id_table.weight.detach().clone())
            # Items with no training interaction are represented by their content alone: their ID
            # rows would only ever be trained as sampled negatives, which teaches "never buy this".
            self.register_buffer("has_id", torch.as_tensor(trained, dtype=torch.float32)[:, None], persistent=False)
            self.projection = nn.Linear(content.shape[1], id_table.weight.shape[1], bias=False)
            # content is data, not a parameter: non-persistent keeps it out of every checkpoint
            self.register_buffer("content", torch.as_tensor(content, dtype=torch.float32), persistent=False)
            self.register_buffer("has_content", torch.as_tensor(mask, dtype=torch.float32)[:, None], persistent=False)

        def _has_id(self, rows: torch.Tensor | slice) -> torch.Tensor:
            has_id = self.has_id[rows]
            if self.training and self.id_dropout > 0:
                has_id = has_id * (torch.rand_like(has_id) >= self.id_dropout)
            return has_id

        @property
        def weight(self) -> torch.Tensor:
            return self.id_weight * self._has_id(slice(None)) + self.projection(self.content) * self.has_content

        @property
        def embedding_dim(self) -> int:
            return self.id_weight.shape[1]

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            # Project each distinct item once: a full-sort batch of a pairwise scorer (NeuMF) names
            # every item once per user, and the projection is the costly part.
            distinct, position = torch.unique(ids, return_inverse=True)
            rows = self.id_weight[distinct] * self._has_id(distinct) + self.projection(self.content[distinct]) * self.has_content[distinct]
            return rows[position]

    return FusedItemEmbedding


def apply_content(net: Any, tables: list[str], mode: str, content: np.ndarray, mask: np.ndarray, trained: np.ndarray,
                   id_dropout: float = 0.0) -> None:
    """``init``: overwrite the rows with content of each item table; ``fuse``: swap in the fused module.

    ``content``/``mask``/``trained`` are in RecBole id order (row 0 = [PAD], mask False).
    """
    import torch

    if mode == "none":
        return
    if mode == "fuse":
        fused = content_module_class()
        for name in tables:
            setattr(net, name, fused(getattr(net, name), content, mask, trained, id_dropout))
        return
    for name in tables:
        table = getattr(net, name)
        with torch.no_grad():
            width = table.weight.shape[1]
            projected = principal_components(content, mask, width)
            scale = float(table.weight[1:].std()) / max(float(projected[mask].std()), 1e-12)
            rows = torch.as_tensor(np.flatnonzero(mask))
            table.weight[rows] = torch.as_tensor(projected[mask] * scale, dtype=table.weight.dtype)
