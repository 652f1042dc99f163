"""FREEDOM (Zhou & Shen 2023, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for
Multimodal Recommendation"), in PyTorch, for any number of item modalities.

Two graphs:

* **Frozen item-item graph.** Per modality ``m``: each item's ``knn_k`` nearest items by cosine of the
  modality's vectors (itself included), as a binary sparse graph, normalised ``D^-1/2 S D^-1/2``; the
  modalities' graphs are summed with weights ``modality_weights`` (default equal). Built once before
  training (sparse top-k rows from the shared top-K, never an items x items matrix) and never updated:
  at H&M's 105,542 items with 384-d vectors one modality's graph took 218 s (156 CPU-s, 2 threads, load
  ~4) at 1.4 GB peak RSS, where a dense matrix would be 44.6 GB (``benchmarks/perf/bench_multimodal.py``).
  The item ID embeddings are propagated ``n_mm_layers`` times over it: ``h = S^L e_item``.
* **Denoised user-item graph.** Every epoch, degree-sensitive edge pruning keeps ``(1 - prune_ratio)`` of
  the training edges, drawn without replacement with probability proportional to ``1 / sqrt(d_u d_i)``
  (edges between high-degree nodes are dropped more often), re-normalised; LightGCN (``n_layers``,
  mean of layers) runs on it. Ranking uses the full graph.

User representation: LightGCN's; item representation: LightGCN's + ``h``. Loss: BPR on those, plus
``reg_weight`` times, per modality, BPR between the user representation and a linear projection of
the item's modality vector (which aligns the content with the users' tastes). As in the paper, every
training step propagates over the whole user-item graph (one pass over its edges per layer per batch):
at H&M's scale raise ``train_batch_size`` to keep the number of passes per epoch down.

Deviations from the paper and the authors' code (MMRec's ``freedom.py``), as the docs' "Deviations from the papers" page lists them:

* Any number of modalities by name (the paper: image and text, weighted 0.1 / 0.9 in the authors'
  configs); ``modality_weights`` default to equal. An item without a vector in some modality takes its
  item-item neighbours from the other modalities (its weights over the modalities it has sum to 1);
  with none, it has no item-item neighbours. Items without a vector in a modality are nobody's
  neighbour in that modality's graph and have no term in that modality's BPR loss.
* Modality vectors are fixed; the authors' code fine-tunes the raw feature tables. Our item embeddings
  are what is being compared, and freezing them keeps the comparison about the model.
* Items without a training interaction have no ID embedding (fixed at zero, not learnt; it would only
  ever be pushed down as a sampled negative): such an item is represented by ``h`` alone, the mean
  ID embedding of its content neighbours, rescaled at ranking time to the mean length of the warm
  items' representations (it lacks their LightGCN part, so unscaled it loses to any warm item: on
  the synthetic H&M cold-item sample HR@12 0.02 against random's 0.07; rescaled 0.37). That is how
  FREEDOM ranks cold items here; the paper does not address them.
* One training row per purchase (repeat purchases weigh more); negatives uniform among the items the
  user has no training interaction with; Adam at ``learning_rate`` 0.01 (the authors' configs: 0.001
  for up to 1,000 epochs, beyond the 2-minute budget) with early stopping after 10 epochs without a
  better ``valid_metric`` on the valid part (the authors: 20), best epoch's weights kept.
* The number of kept edges is rounded down, as in the authors' code; sampling without replacement
  uses exponential keys (Efraimidis & Spirakis), the same distribution as ``torch.multinomial``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.models._base import register
from recsys_cl.models._modalities import (
    ItemModality,
    item_knn_graph,
    symmetric_normalised,
)
from recsys_cl.models._torch_epochs import (
    BipartiteGraph,
    EpochTrainConfig,
    NegativeSampler,
    TorchEpochModel,
    at_warm_length,
    sparse_product,
    torch_csr,
    weighted_sample_without_replacement,
)


class FREEDOMConfig(EpochTrainConfig):
    # The authors' 0.001 (with up to 1,000 epochs) does not fit the 2-minute budget on ml-100k loo: best
    # valid nDCG@10 0.080 at 0.01 (epoch 33 of 43), 0.074 at 0.005 (epoch 51 of 61, 1.4x the time).
    learning_rate: float = Field(0.01, gt=0)
    n_layers: int = Field(2, ge=1, description="LightGCN layers on the user-item graph")
    n_mm_layers: int = Field(1, ge=1, description="propagations over the frozen item-item graph")
    knn_k: int = Field(10, ge=1, description="neighbours per item in each modality's item-item graph")
    prune_ratio: float = Field(0.8, ge=0, lt=1, description="share of user-item edges pruned each epoch")
    reg_weight: float = Field(1e-4, ge=0, description="weight of the modality-feature BPR losses")
    modality_weights: dict[str, float] | None = Field(
        None, description="weight of each modality's item-item graph by name; None = equal"
    )


class FREEDOMNet(nn.Module):
    """User / item ID embeddings, one projection per modality, the frozen item-item graph."""

    def __init__(self, n_users: int, n_items: int, dim: int, warm: torch.Tensor, item_graph: sp.csr_matrix,
                 features: list[torch.Tensor], n_layers: int, n_mm_layers: int, device: torch.device) -> None:
        super().__init__()
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_items, dim)))
        self.projections = nn.ModuleList([nn.Linear(f.shape[1], dim) for f in features])
        for i, f in enumerate(features):
            self.register_buffer(f"features_{i}", f)
        self.register_buffer("warm", warm.float())
        # fixed, so not a parameter or buffer (and not in the state_dict copied at each best epoch)
        self.item_graph = torch_csr(item_graph, device)
        self.item_graph_t = torch_csr(item_graph.T.tocsr(), device)
        self.n_layers, self.n_mm_layers = n_layers, n_mm_layers

    def features(self, m: int) -> torch.Tensor:
        return getattr(self, f"features_{m}")

    def forward(self, graph: BipartiteGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) representations over the user-item ``graph``."""
        items_id = self.item_embedding * self.warm[:, None]
        content = items_id
        for _ in range(self.n_mm_layers):
            content = sparse_product(self.item_graph, self.item_graph_t, content)
        users, items = graph.propagate(self.user_embedding, items_id, self.n_layers)
        return users, items + content


@register("freedom")
class FREEDOM(TorchEpochModel):
    """FREEDOM: LightGCN on a degree-pruned user-item graph plus a frozen multimodal item-item kNN graph."""

    Config = FREEDOMConfig
    missing_effect = (
        "are nobody's neighbour in FREEDOM's item-item graph of that modality, take their neighbours from "
        "the other modalities, and have no term in its feature BPR loss"
    )

    def _build(self, split: EncodedSplit, modalities: list[ItemModality], rng: np.random.Generator) -> nn.Module:
        c = self.config
        self.modality_masks = [m.mask for m in modalities]
        self.item_graph = self._item_graph(modalities)
        self.sampler = NegativeSampler(split.train)
        coo = split.train.tocoo()
        self.edges = (coo.row.astype(np.int64), coo.col.astype(np.int64))
        user_degree = np.diff(split.train.indptr).astype(np.float64)
        item_degree = np.diff(split.train.tocsc().indptr).astype(np.float64)
        # degree-sensitive pruning: an edge is kept with probability proportional to 1 / sqrt(d_u d_i)
        self.edge_weights = 1.0 / np.sqrt(user_degree[self.edges[0]] * item_degree[self.edges[1]])
        self.n_users, self.n_items = split.n_users, split.n_items
        self.full_graph = BipartiteGraph(*self.edges, split.n_users, split.n_items, self.device)
        return FREEDOMNet(
            split.n_users, split.n_items, c.embedding_size, torch.from_numpy(self.trained_items), self.item_graph,
            [torch.from_numpy(m.vectors) for m in modalities], c.n_layers, c.n_mm_layers, self.device,
        )

    def _item_graph(self, modalities: list[ItemModality]) -> sp.csr_matrix:
        """Sum over modalities of weight x normalised kNN graph, each item's weights renormalised over
        the modalities it has a vector in."""
        c = self.config
        names = [m.name for m in modalities]
        weights = dict.fromkeys(names, 1.0) if c.modality_weights is None else dict(c.modality_weights)
        for name, weight in weights.items():
            if name not in names:
                raise InputError(f"freedom: modality_weights.{name}: no such modality (have {', '.join(names)})")
            if not weight > 0:
                raise InputError(f"freedom: modality_weights.{name}: must be > 0 (got {weight})")
        missing = [n for n in names if n not in weights]
        if missing:
            raise InputError(f"freedom: modality_weights.{missing[0]}: missing (give every modality a weight)")
        n_items = len(modalities[0].mask)
        per_item = np.zeros((len(modalities), n_items))
        for m, modality in enumerate(modalities):
            per_item[m, modality.mask] = weights[modality.name]
        totals = per_item.sum(axis=0)
        per_item = np.divide(per_item, totals, out=np.zeros_like(per_item), where=totals > 0)
        graph = sp.csr_matrix((n_items, n_items), dtype=np.float32)
        for m, modality in enumerate(modalities):
            knn = symmetric_normalised(item_knn_graph(modality.vectors, modality.mask, c.knn_k, device=c.device))
            graph = graph + sp.diags(per_item[m].astype(np.float32)) @ knn
        return sp.csr_matrix(graph, dtype=np.float32)

    def _pruned_graph(self, rng: np.random.Generator) -> BipartiteGraph:
        keep = int(len(self.edge_weights) * (1.0 - self.config.prune_ratio))
        kept = weighted_sample_without_replacement(self.edge_weights, max(keep, 1), rng)
        return BipartiteGraph(self.edges[0][kept], self.edges[1][kept], self.n_users, self.n_items, self.device)

    def _start_epoch(self, rng: np.random.Generator) -> None:
        self.epoch_graph = self._pruned_graph(rng) if self.config.prune_ratio > 0 else self.full_graph

    def _batch_loss(self, users_np: np.ndarray, positives_np: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        c, net = self.config, self.net
        negatives_np = self.sampler.sample(users_np, rng)
        users, positives, negatives = (torch.from_numpy(a).to(self.device) for a in (users_np, positives_np, negatives_np))
        user_rep, item_rep = net(self.epoch_graph)
        batch_users = user_rep[users]
        loss = _bpr(batch_users, item_rep[positives], item_rep[negatives])
        if c.reg_weight:
            # each distinct item projected once: the feature rows are the costly part of this loss
            distinct, inverse = np.unique(np.concatenate([positives_np, negatives_np]), return_inverse=True)
            distinct_t = torch.from_numpy(distinct).to(self.device)
            pos_rows, neg_rows = torch.from_numpy(inverse).to(self.device).chunk(2)
            for m, projection in enumerate(net.projections):
                has = self.modality_masks[m]
                both = torch.from_numpy(has[positives_np] & has[negatives_np]).to(self.device)
                if both.any():
                    projected = projection(net.features(m)[distinct_t])
                    loss = loss + c.reg_weight * _bpr(batch_users[both], projected[pos_rows[both]], projected[neg_rows[both]])
        return loss

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor, None]:
        users, items = self.net(self.full_graph)
        warm = self.net.warm.bool()
        return users, at_warm_length(items, ~warm, warm), None


def _bpr(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss ``-log sigmoid(u.p - u.n)`` over the rows."""
    return -torch.nn.functional.logsigmoid((users * (positives - negatives)).sum(dim=1)).mean()
