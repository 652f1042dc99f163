"""Projection heads over frozen base vectors and the seeded training loop they share.

Paper 001's head: Linear -> BatchNorm -> ReLU -> Dropout -> Linear projection; Adam 1e-3 with
cosine annealing, batch 256. Train and validation loss are recorded per epoch (paper 000 reports them).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from recsys_cl.device import resolve_device, torch_threads
from recsys_cl.embeddings._mining import split_rows
from recsys_cl.embeddings._records import EpochLoss
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress
from recsys_cl.limits import Seed


class TrainConfig(BaseModel):
    """Options of every contrastive learner (defaults run in minutes on 2 CPU cores)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=2)
    learning_rate: float = Field(1e-3, gt=0)
    hidden_dim: int = Field(512, ge=1)
    out_dim: int = Field(128, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    temperature: float = Field(0.1, gt=0, description="NT-Xent / InfoNCE temperature")
    margin: float = Field(0.2, ge=0, description="triplet margin on L2-normalised projections")
    valid_share: float = Field(0.1, ge=0, lt=1, description="share of training examples kept for validation loss")
    seed: Seed = 0
    device: str = "auto"
    cpu_threads: int | None = Field(
        1, ge=1, description="torch CPU threads while encoding and training (None: leave torch's setting)"
    )
    finetune_layers: int = Field(
        0, ge=0, description="also train the encoder's last N layers (transformer layers / EfficientNet blocks, "
        "see _finetune.py); 0: the encoder stays frozen and only the head trains on cached base vectors",
    )
    finetune_learning_rate: float = Field(
        5e-5, gt=0, description="Adam learning rate of the fine-tuned encoder layers (the head keeps learning_rate)"
    )


class ProjectionHead(nn.Module):
    """(B, in_dim) base vectors -> (B, out_dim) projections."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_head(in_dim: int, config: TrainConfig, salt: int = 0) -> ProjectionHead:
    """A head initialised from ``config.seed + salt`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + salt)
        return ProjectionHead(in_dim, config.hidden_dim, config.out_dim, config.dropout)


@contextlib.contextmanager
def cpu_threads(config: TrainConfig) -> Iterator[None]:
    """torch's CPU thread count set to ``config.cpu_threads`` inside, restored after."""
    # One CPU thread by default: a head's batches are small matmuls where thread synchronisation
    # costs more than it saves (measured on 2 busy cores: 0.37 s per step with 2 threads, 0.019 s with 1).
    with torch_threads(config.cpu_threads):
        yield


def fit(
    modules: nn.Module,
    examples: np.ndarray,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    config: TrainConfig,
    progress: StageProgress | None = None,
    param_groups: Iterable[dict] | None = None,
    what: str = "training examples",
) -> list[EpochLoss]:
    """Train ``modules`` on rows of ``examples`` (m, r) with ``batch_loss(rows) -> scalar``.

    A seeded ``valid_share`` of the rows is held back to log a validation loss per epoch.
    ``param_groups`` (Adam's; default: every parameter of ``modules`` that requires grad, at
    ``learning_rate``) lets parts train at their own rate. Fewer than two examples (one batch) is an
    InputError naming ``what`` they are. Returns the per-epoch losses.
    """
    if len(examples) < 2:
        raise InputError(f"{what}: found {len(examples)}, training needs at least 2 (one batch)")
    with cpu_threads(config), torch.random.fork_rng(devices=[]):
        # dropout draws from torch's global RNG: seed it inside a fork so callers' state is untouched
        torch.manual_seed(config.seed)
        return _fit(modules, examples, batch_loss, config, progress, param_groups)


def _fit(modules, examples, batch_loss, config, progress, param_groups) -> list[EpochLoss]:
    rng = np.random.default_rng(config.seed)
    train_rows, valid_rows = split_rows(len(examples), config.valid_share, rng)
    if len(valid_rows) < 2:  # too few to form a batch: keep them for training
        train_rows, valid_rows = np.arange(len(examples)), np.empty(0, dtype=np.int64)
    if param_groups is None:
        param_groups = [{"params": [p for p in modules.parameters() if p.requires_grad]}]
    optimiser = torch.optim.Adam(list(param_groups), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)

    def batches(rows: np.ndarray) -> list[np.ndarray]:
        chunks = [rows[s : s + config.batch_size] for s in range(0, len(rows), config.batch_size)]
        # BatchNorm and in-batch negatives need at least two rows
        return [c for c in chunks if len(c) >= 2]

    history = []
    for epoch in range(1, config.epochs + 1):
        modules.train()
        total, count = 0.0, 0
        for chunk in batches(rng.permutation(train_rows)):
            loss = batch_loss(examples[chunk])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, count = total + loss.item() * len(chunk), count + len(chunk)
        schedule.step()
        valid_loss = None
        if len(valid_rows):
            modules.eval()
            v_total, v_count = 0.0, 0
            with torch.no_grad():
                for chunk in batches(valid_rows):
                    v_total += float(batch_loss(examples[chunk])) * len(chunk)
                    v_count += len(chunk)
            valid_loss = v_total / max(v_count, 1)
        history.append(EpochLoss(epoch, total / max(count, 1), valid_loss))
        if progress:
            progress("train", epoch, config.epochs)
    modules.eval()
    return history


def project(head: nn.Module, vectors: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(n, d) base vectors -> (n, out_dim) L2-normalised projections (eval mode, no grad)."""
    head.eval()
    device = next(head.parameters()).device
    out = []
    with torch.no_grad():
        for s in range(0, len(vectors), batch_size):
            z = head(torch.from_numpy(np.ascontiguousarray(vectors[s : s + batch_size], dtype=np.float32)).to(device))
            out.append(torch.nn.functional.normalize(z, dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def to_device(vectors: np.ndarray, config: TrainConfig) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(resolve_device(config.device))
