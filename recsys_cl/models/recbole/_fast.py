"""Faster RecBole code paths, same models and losses: CSR graph propagation for LightGCN / SGL / NCL,
SGL's InfoNCE once per distinct node, and a full-sort scorer for NeuMF.

LightGCN / SGL: an isolated node (a cold item) keeps its own layer-0 vector instead of RecBole's
layer mean ``e0 / (n_layers + 1)``, which would score it at a fraction of a warm item's scale.
"""

from __future__ import annotations

import warnings
from typing import Any

#: (user, item) pairs per block of NeuMF's hidden grid in ``full_sort_predict`` (see there)
MLP_PAIRS_PER_BLOCK = 16_384


def graph_layers() -> Any:
    """``layers(graphs, ego) -> [ego, G1 ego, G2 G1 ego, ...]``: graph propagation with a faster sparse product.

    RecBole multiplies by its normalised adjacency with ``torch.sparse.mm`` on a COO tensor, whose
    backward transposes and re-sorts the matrix on every call; on one CPU thread that backward was
    half of SGL's fit (py-spy). Here each graph is converted once to CSR and the backward multiplies
    by the transposed CSR (the same matrix when the graph is symmetric, as RecBole's
    ``D^-1/2 (A + A^T) D^-1/2`` graphs are): 3 layers forward + backward on ml-100k, 64 dims,
    95 ms -> 16 ms. The values are the same sums in another order (float rounding only).
    """
    import torch

    from recsys_cl.models._torch_epochs import sparse_product  # the same product VBPR/FREEDOM/BM3 use

    def csr_pair(graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # kept on the graph tensor itself: SGL draws new augmented graphs every epoch, and the old
        # conversions go with them
        pair = getattr(graph, "_recsys_cl_csr", None)
        if pair is None:
            coo = graph.coalesce()
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is not
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                matrix = coo.to_sparse_csr()
                flipped = coo.t().coalesce()
                symmetric = torch.equal(flipped.indices(), coo.indices()) and torch.equal(flipped.values(), coo.values())
                pair = (matrix, matrix if symmetric else flipped.to_sparse_csr())
            graph._recsys_cl_csr = pair
        return pair

    def layers(graphs: list[torch.Tensor], ego: torch.Tensor) -> list[torch.Tensor]:
        out, x = [ego], ego
        for graph in graphs:
            matrix, transposed = csr_pair(graph)
            x = sparse_product(matrix, transposed, x)
            out.append(x)
        return out

    return layers


def sparse_graph_ops() -> Any:
    """``propagate(graphs, ego)``: LightGCN / SGL's mean over :func:`graph_layers`."""
    import torch

    layers = graph_layers()

    def propagate(graphs: list[torch.Tensor], ego: torch.Tensor) -> torch.Tensor:
        return torch.stack(layers(graphs, ego), dim=1).mean(dim=1)

    return propagate


def ncl_class() -> type:
    """RecBole's NCL with its propagation on :func:`graph_layers` and its structure-contrastive loss
    per distinct node (:func:`info_nce_per_distinct_node`): same model, same losses.

    NCL propagates the whole graph and contrasts every batch row with all users and all items in each
    training batch; that loss was half of its fit on ml-100k loo (cProfile, one thread).
    """
    import torch
    from recbole.model.general_recommender import NCL

    layers = graph_layers()

    class FastNCL(NCL):
        def ssl_layer_loss(self, current_embedding: torch.Tensor, previous_embedding: torch.Tensor,
                           user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
            """RecBole's structure-contrastive loss, once per distinct user / item of the batch."""
            current_users, current_items = torch.split(current_embedding, [self.n_users, self.n_items])
            previous_users, previous_items = torch.split(previous_embedding, [self.n_users, self.n_items])
            users = info_nce_per_distinct_node(user, current_users, previous_users, self.ssl_temp)
            items = info_nce_per_distinct_node(item, current_items, previous_items, self.ssl_temp)
            return self.ssl_reg * (users + self.alpha * items)

        def forward(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
            depth = max(self.n_layers, self.hyper_layers * 2)
            embeddings_list = layers([self.norm_adj_mat] * depth, self.get_ego_embeddings())
            mean = torch.stack(embeddings_list[: self.n_layers + 1], dim=1).mean(dim=1)
            user_all_embeddings, item_all_embeddings = torch.split(mean, [self.n_users, self.n_items])
            return user_all_embeddings, item_all_embeddings, embeddings_list

    FastNCL.__name__ = FastNCL.__qualname__ = "NCL"
    return FastNCL


def info_nce_per_distinct_node(rows: Any, view1: Any, view2: Any, tau: float) -> Any:
    """``sum over rows r of -log softmax_j(cos(view1[r], view2[j]) / tau)[r]`` (the InfoNCE of SGL and
    NCL), computed once per distinct node of ``rows`` and counted as often as it appears.

    RecBole scores every batch row against all users and all items, so a user with five purchases in
    the batch is scored five times (about half of SGL's fit time); each term is a function of the
    node alone, so the loss and gradients are the same, with a log-sum-exp for RecBole's exp / sum.
    """
    import torch

    distinct, inverse = torch.unique(rows, return_inverse=True)
    anchor = torch.nn.functional.normalize(view1[distinct], dim=1)
    every = torch.nn.functional.normalize(view2, dim=1)
    positive = (anchor * every[distinct]).sum(dim=1) / tau
    per_node = torch.logsumexp(anchor @ every.T / tau, dim=1) - positive
    return per_node[inverse].sum()


def graph_model_class(base: type) -> type:
    """RecBole's LightGCN or SGL with the forward pass on :func:`sparse_graph_ops` (same model, same loss)."""
    import torch

    propagate = sparse_graph_ops()

    class FastGraph(base):  # type: ignore[misc, valid-type]
        def _split(self, graphs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
            ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
            out = propagate(graphs, ego)
            # A node without a training edge (a cold item) gets zeros from every layer, so the layer
            # mean would shrink it to ego / (n_layers + 1): a fused cold item would be scored at a
            # third of its content's weight against warm items. Its own embedding is all it has.
            isolated = self._isolated()
            if isolated.any():
                out = torch.where(isolated[:, None], ego, out)
            return tuple(torch.split(out, [self.n_users, self.n_items]))

        def _isolated(self) -> torch.Tensor:
            if getattr(self, "_isolated_nodes", None) is None:
                main = self.train_graph if base.__name__ == "SGL" else self.norm_adj_matrix
                rows = main.coalesce().indices()[0]
                self._isolated_nodes = torch.bincount(rows, minlength=main.shape[0]) == 0
            return self._isolated_nodes

        if base.__name__ == "SGL":

            def forward(self, graph: Any) -> tuple[torch.Tensor, torch.Tensor]:
                return self._split(list(graph) if isinstance(graph, list) else [graph] * self.n_layers)

            def calc_ssl_loss(self, user_list: torch.Tensor, pos_item_list: torch.Tensor, user_sub1: torch.Tensor,
                              user_sub2: torch.Tensor, item_sub1: torch.Tensor, item_sub2: torch.Tensor) -> torch.Tensor:
                """RecBole's SGL InfoNCE, computed once per distinct user / item of the batch."""

                ssl = (info_nce_per_distinct_node(pos_item_list, item_sub1, item_sub2, self.ssl_tau)
                       + info_nce_per_distinct_node(user_list, user_sub1, user_sub2, self.ssl_tau))
                return ssl * self.ssl_weight

        else:

            def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
                return self._split([self.norm_adj_matrix] * self.n_layers)

    FastGraph.__name__ = FastGraph.__qualname__ = base.__name__
    return FastGraph


def neumf_class() -> type:
    import torch
    from recbole.model.general_recommender import NeuMF
    from torch import nn

    class NeuMFFullSort(NeuMF):
        """RecBole's NeuMF with a ``full_sort_predict``: the same scores as ``predict`` over every pair.

        The MLP's first layer acts on ``[user; item]``, so it splits into ``W_u u + W_i i + b``: each
        user and each item is multiplied once, and the (users x items) grid only sees an addition
        before the remaining layers; the GMF part is one matrix product. RecBole otherwise repeats
        every user once per item and runs the whole MLP on each pair: that validation was most of
        NeuMF's fit time on ml-100k (py-spy: 44% of an 8-epoch fit, plus 27% for ranking).
        """

        def full_sort_predict(self, interaction: Any) -> torch.Tensor:
            modules = list(self.mlp_layers.mlp_layers) if self.mlp_train else []
            first = next((i for i, m in enumerate(modules) if isinstance(m, nn.Linear)), None)
            if any(isinstance(m, nn.BatchNorm1d) for m in modules) or (self.mlp_train and first is None):
                raise NotImplementedError  # RecBole's trainer then scores pair by pair
            users = interaction[self.USER_ID]
            weight, bias = self.predict_layer.weight[0], self.predict_layer.bias
            d_mf = self.item_mf_embedding.embedding_dim if self.mf_train else 0
            scores = bias.expand(len(users), 1)
            if self.mf_train:
                scores = scores + (self.user_mf_embedding(users) * weight[:d_mf]) @ self.item_mf_embedding.weight.T
            if self.mlp_train:
                linear = modules[first]
                d = self.user_mlp_embedding.embedding_dim
                # dropout before the first linear layer is the identity in eval mode, as in predict()
                user_part = self.user_mlp_embedding(users) @ linear.weight[:, :d].T + linear.bias
                item_part = self.item_mlp_embedding.weight @ linear.weight[:, d:].T
                # The (users x items x hidden) grid is built a few users at a time and rectified in
                # place: at about 16k pairs (8 MB) it stays in cache; one 118-user block of ml-100k
                # (100 MB) took 2-4x longer per pair (single thread, /tmp micro-benchmark).
                block = max(1, MLP_PAIRS_PER_BLOCK // max(len(item_part), 1))
                mlp_scores = []
                for start in range(0, len(users), block):
                    hidden = user_part[start : start + block, None, :] + item_part[None, :, :]
                    for module in modules[first + 1 :]:
                        if isinstance(module, nn.ReLU):
                            hidden = hidden.relu_()
                        elif not (isinstance(module, nn.Dropout) and not self.training):
                            hidden = module(hidden)
                    mlp_scores.append(hidden @ weight[d_mf:])
                scores = scores + torch.cat(mlp_scores)
            return self.sigmoid(scores).reshape(-1)

    return NeuMFFullSort
