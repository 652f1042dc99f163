"""Contrastive losses: NT-Xent (SimCLR, in-batch negatives), triplet margin (Euclidean), and the
symmetric InfoNCE of CLIP-style image–text training. Inputs are (B, d) projections."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent: row i of ``a`` and of ``b`` are a positive pair; the other 2B-2 rows of the
    batch are its negatives. Cosine similarity divided by ``temperature``."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    n = a.shape[0]
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # an example is not its own negative
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(a.device)
    return F.cross_entropy(sim, target)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """max(0, d(a,p) - d(a,n) + margin) with Euclidean d on L2-normalised projections (paper 000)."""
    return F.triplet_margin_loss(
        F.normalize(anchor, dim=1), F.normalize(positive, dim=1), F.normalize(negative, dim=1), margin=margin, p=2
    )


def symmetric_info_nce(image: torch.Tensor, text: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """CLIP's loss: image i and text i match; mean of image→text and text→image cross-entropies."""
    logits = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T / temperature
    target = torch.arange(image.shape[0], device=image.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
