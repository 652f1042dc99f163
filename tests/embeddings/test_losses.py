"""Losses: values checked against hand computation and against their intended ordering."""

from __future__ import annotations

import math

import torch

from recsys_cl.embeddings._losses import nt_xent, symmetric_info_nce, triplet_loss


def test_nt_xent_matches_hand_computation_for_two_pairs():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    # row 0 (a0): partner b0 has cos 1; a1 and b1 have cos 0
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert abs(float(nt_xent(a, b, t)) - expected) < 1e-5


def test_nt_xent_prefers_aligned_pairs():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, 8, generator=g)
    aligned = nt_xent(a, a + 0.01 * torch.randn(32, 8, generator=g))
    shuffled = nt_xent(a, a[torch.randperm(32, generator=g)])
    assert float(aligned) < float(shuffled) - 1.0


def test_triplet_loss_is_zero_beyond_margin_and_positive_inside():
    anchor = torch.tensor([[1.0, 0.0]])
    assert float(triplet_loss(anchor, torch.tensor([[1.0, 0.1]]), torch.tensor([[-1.0, 0.0]]), margin=0.2)) == 0.0
    # positive farther than negative: loss = d(a,p) - d(a,n) + margin = sqrt(2) - 0 + 0.2
    value = float(triplet_loss(anchor, torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 0.0]]), margin=0.2))
    assert abs(value - (math.sqrt(2) + 0.2)) < 1e-4


def test_symmetric_info_nce_is_symmetric_and_rewards_matching():
    g = torch.Generator().manual_seed(1)
    image, text = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g)
    assert abs(float(symmetric_info_nce(image, text)) - float(symmetric_info_nce(text, image))) < 1e-5
    assert float(symmetric_info_nce(image, image)) < float(symmetric_info_nce(image, text))
