"""VBPR (He & McAuley 2016, "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback"): BPR
matrix factorisation plus a content term from fixed item features, in PyTorch.

Score of user ``u`` for item ``i`` with feature vector ``f_i`` (any of our item embeddings)::

    y(u, i) = beta_i + gamma_u . gamma_i + theta_u . (E f_i) + beta' . f_i

``gamma`` are ``embedding_size``-wide latent factors, ``theta_u`` a ``content_embedding_size``-wide
user taste in content space, ``E`` (feature_dim x content_embedding_size) the learned projection of
the features, ``beta'`` the content bias. A factor model: user ``[gamma_u, theta_u]``, item
``[gamma_i, E f_i]``, item bias ``beta_i + beta' . f_i``; ranked by the shared top-K.

Why not Cornac's VBPR: it installs on this stack (cornac 3.0.1, NumPy 2, no other torch) and runs, but
one epoch on ml-100k loo took 53 s (2 cores, load ~3; Cornac's default is 50 epochs, the budget is
2 minutes): it steps Adam over every parameter for each mini-batch of 100 and draws each negative in
Python against a ``dok_matrix``; it also prints to stdout, has no per-epoch hook for validation, and
resets its sampler's seed on every ``fit``. This module is the same model on the shared epoch loop.

Deviations from the paper (the docs' "Deviations from the papers" page lists them):

* Adam on mini-batches of ``train_batch_size`` (user, bought item, sampled item) rows, one row per
  purchase, instead of SGD on bootstrap-sampled single triples; negatives are uniform among the
  items the user has no training interaction with (as the paper's ``I \\ I_u+``).
* The global offset ``alpha`` and user bias ``beta_u`` are left out: they are constant within a user's
  ranking and cancel in BPR's score differences.
* Items without a training interaction get ``gamma_i = 0`` and ``beta_i = 0`` (not learnt): in the
  paper they would only ever be pushed down as sampled negatives. They are scored by their content
  terms alone, which is what lets VBPR rank cold items.
* Features: any of our item embeddings instead of 4,096-d CNN features; several modalities are
  concatenated into one feature vector (as MMRec's VBPR does for text + image). An item without a
  vector in a modality has zeros in that block (no content term from it; logged once per modality).
* Regularisation: ``reg_weight`` times the mean over the batch of the squared L2 norms of ``gamma_u,
  theta_u, gamma_i, gamma_j, beta_i, beta_j`` (the paper's lambda_Theta and lambda_beta as one weight),
  and ``content_reg_weight`` times ``(||E||^2 + ||beta'||^2) / 2`` per step (the paper's lambda_E).
* Training stops early on the valid part (``valid_metric``) and keeps the best epoch's weights.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from recsys_cl.data import EncodedSplit
from recsys_cl.models._base import register
from recsys_cl.models._modalities import ItemModality
from recsys_cl.models._torch_epochs import (
    EpochTrainConfig,
    NegativeSampler,
    TorchEpochModel,
)


class VBPRConfig(EpochTrainConfig):
    embedding_size: int = Field(64, ge=1, description="width of gamma_u / gamma_i, the collaborative factors")
    content_embedding_size: int = Field(64, ge=1, description="width of theta_u and of E f_i, the content factors")
    # ml-100k loo, TF-IDF text (benchmarks/perf/bench_multimodal.py), best valid nDCG@10 by learning rate /
    # reg_weight: 0.001 / 1e-4 still rising at 30 epochs (0.067), 0.005 / 1e-4 0.077, 0.01 / 1e-4 0.067,
    # 0.005 / 1e-2 0.071, 0.005 / 0.1 0.054.
    learning_rate: float = Field(0.005, gt=0)
    reg_weight: float = Field(1e-4, ge=0, description="L2 weight on the batch's user / item factors and item biases")
    content_reg_weight: float = Field(0.0, ge=0, description="L2 weight on E and beta' (the paper's lambda_E)")


class VBPRNet(nn.Module):
    """VBPR's parameters and score; ``features`` (n_items, F) are fixed, ``warm`` marks items with a
    training interaction (the others have no gamma_i / beta_i)."""

    def __init__(self, n_users: int, n_items: int, features: torch.Tensor, warm: torch.Tensor, k: int, k_content: int) -> None:
        super().__init__()
        self.gamma_user = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, k)))
        self.theta_user = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, k_content)))
        self.gamma_item = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_items, k)))
        self.beta_item = nn.Parameter(torch.zeros(n_items))
        self.E = nn.Parameter(nn.init.xavier_uniform_(torch.empty(features.shape[1], k_content)))
        self.beta_prime = nn.Parameter(torch.zeros(features.shape[1]))
        self.register_buffer("features", features)
        self.register_buffer("warm", warm.float())

    def item_parts(self, items: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(gamma_i, E f_i, beta_i + beta' . f_i)`` of ``items``."""
        warm = self.warm[items]
        features = self.features[items]
        gamma = self.gamma_item[items] * warm[:, None]
        return gamma, features @ self.E, self.beta_item[items] * warm + features @ self.beta_prime

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``y(u, i)`` for aligned ``users`` and ``items`` (the paper's formula, without alpha and beta_u)."""
        # each distinct item's parts once: the feature rows (F wide) are the costly gather
        distinct, inverse = torch.unique(items, return_inverse=True)
        gamma, content, bias = self.item_parts(distinct)
        return (
            bias[inverse]
            + (self.gamma_user[users] * gamma[inverse]).sum(dim=1)
            + (self.theta_user[users] * content[inverse]).sum(dim=1)
        )

    def factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gamma, content, bias = self.item_parts(slice(None))
        return torch.cat([self.gamma_user, self.theta_user], dim=1), torch.cat([gamma, content], dim=1), bias


@register("vbpr")
class VBPR(TorchEpochModel):
    """VBPR: BPR-MF with a learned linear content term over item embeddings (one or several modalities)."""

    Config = VBPRConfig
    missing_effect = "have zeros in that block of VBPR's feature vector (no content term from it)"

    def _build(self, split: EncodedSplit, modalities: list[ItemModality], rng: np.random.Generator) -> nn.Module:
        features = np.concatenate([m.vectors for m in modalities], axis=1)
        self.sampler = NegativeSampler(split.train)
        c = self.config
        return VBPRNet(
            split.n_users,
            split.n_items,
            torch.from_numpy(features),
            torch.from_numpy(self.trained_items),
            c.embedding_size,
            c.content_embedding_size,
        )

    def _batch_loss(self, users_np: np.ndarray, items_np: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        c, net = self.config, self.net
        users = torch.from_numpy(users_np).to(self.device)
        # the batch's bought items, then one sampled item per row
        items = torch.from_numpy(np.concatenate([items_np, self.sampler.sample(users_np, rng)])).to(self.device)
        positive, negative = net.score(users.repeat(2), items).chunk(2)
        loss = -torch.nn.functional.logsigmoid(positive - negative).mean()
        if c.reg_weight:
            warm = net.warm[items]
            item_squares = (net.gamma_item[items] * warm[:, None]).pow(2).sum(dim=1) + (net.beta_item[items] * warm).pow(2)
            squares = net.gamma_user[users].pow(2).sum(dim=1) + net.theta_user[users].pow(2).sum(dim=1)
            loss = loss + c.reg_weight * (squares + item_squares.view(2, -1).sum(dim=0)).mean() / 2
        if c.content_reg_weight:
            loss = loss + c.content_reg_weight * (net.E.pow(2).sum() + net.beta_prime.pow(2).sum()) / 2
        return loss

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net.factors()
