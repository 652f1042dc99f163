"""RecBole's SASRec, GRU4Rec and CORE trained on windows (see ``_sequences``), and the frozen item table.

Each class is RecBole's model with one method added, ``position_outputs(item_seq)``: the sequence
representation at every position of a window (RecBole's ``forward`` keeps only the last one), and
``calculate_loss`` replaced by the same loss (CE over all items, or BPR with one negative) summed over
every position that has a next item, averaged as RecBole averages over a batch of prefixes. Because the
networks are causal, position ``t`` of a window is exactly RecBole's ``forward`` of the prefix ending at
``t`` (``tests/models/test_sequential.py`` checks both against RecBole's own methods). Scoring
(``full_sort_predict``) is RecBole's, unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys_cl.embeddings import principal_components
from recsys_cl.models.recbole._sequences import NEGATIVE_NEXT_ITEMS, NEXT_ITEMS


def _next_item_loss(net: Any, interaction: Any) -> Any:
    """The model's loss over every (position, next item) of a batch of windows."""
    targets = interaction[NEXT_ITEMS]
    has_next = targets > 0
    outputs = net.position_outputs(interaction[net.ITEM_SEQ])[has_next]
    targets = targets[has_next]
    if net.loss_type == "BPR":
        negatives = interaction[NEGATIVE_NEXT_ITEMS][has_next]
        positive = (outputs * net.item_embedding(targets)).sum(dim=-1)
        negative = (outputs * net.item_embedding(negatives)).sum(dim=-1)
        return net.loss_fct(positive, negative)
    return net.loss_fct(net.item_logits(outputs), targets)


def model_classes() -> dict[str, type]:
    """RecBole class name -> its window-trained subclass (named as RecBole's, for RecBole's trainer lookup)."""
    import torch
    import torch.nn.functional as F

    from recsys_cl.compat.recbole import import_sequential_models

    sequential = import_sequential_models()
    CORE, GRU4Rec, SASRec = sequential.CORE, sequential.GRU4Rec, sequential.SASRec

    class WindowSASRec(SASRec):
        def position_outputs(self, item_seq: torch.Tensor) -> torch.Tensor:
            """(batch, length, hidden): ``SASRec.forward`` (RecBole 1.2.1) without the gather of the last position."""
            position_ids = torch.arange(item_seq.size(1), dtype=torch.long, device=item_seq.device)
            position_embedding = self.position_embedding(position_ids.unsqueeze(0).expand_as(item_seq))
            input_emb = self.dropout(self.LayerNorm(self.item_embedding(item_seq) + position_embedding))
            return self.trm_encoder(input_emb, self.get_attention_mask(item_seq), output_all_encoded_layers=True)[-1]

        def item_logits(self, outputs: torch.Tensor) -> torch.Tensor:
            return outputs @ self.item_embedding.weight.T

        calculate_loss = _next_item_loss

    class WindowGRU4Rec(GRU4Rec):
        def position_outputs(self, item_seq: torch.Tensor) -> torch.Tensor:
            """(batch, length, embedding): ``GRU4Rec.forward`` without the gather of the last position."""
            gru_output, _ = self.gru_layers(self.emb_dropout(self.item_embedding(item_seq)))
            return self.dense(gru_output)

        def item_logits(self, outputs: torch.Tensor) -> torch.Tensor:
            return outputs @ self.item_embedding.weight.T

        calculate_loss = _next_item_loss

    class WindowCORE(CORE):
        def position_outputs(self, item_seq: torch.Tensor) -> torch.Tensor:
            """(batch, length, embedding): ``CORE.forward`` of the prefix ending at each position (unit vectors).

            CORE pools the item embeddings of a session with weights softmax-normalised over its positions
            (``trm``) or equal (``ave``); for position ``t`` the weights are normalised over positions <= t.
            """
            x = self.sess_dropout(self.item_embedding(item_seq))
            length = item_seq.size(1)
            visible = torch.tril(torch.ones(length, length, dtype=torch.bool, device=item_seq.device))
            visible = visible[None] & item_seq.gt(0)[:, None, :]  # (batch, position t, position j <= t)
            if self.dnn_type == "trm":
                net = self.net
                position_ids = torch.arange(length, dtype=torch.long, device=item_seq.device)
                input_emb = x + net.position_embedding(position_ids.unsqueeze(0).expand_as(item_seq))
                input_emb = net.dropout(net.LayerNorm(input_emb))
                output = net.trm_encoder(input_emb, net.get_attention_mask(item_seq), output_all_encoded_layers=True)[-1]
                alpha = net.fn(output).to(torch.double).squeeze(-1)  # (batch, position j)
                weights = torch.where(visible, alpha[:, None, :], -9e15).softmax(dim=-1, dtype=torch.float)
            else:
                weights = visible.float() / visible.sum(dim=-1, keepdim=True).clamp_min(1)
            return F.normalize(weights @ x, dim=-1)

        def item_logits(self, outputs: torch.Tensor) -> torch.Tensor:
            items = F.normalize(self.item_dropout(self.item_embedding.weight), dim=-1)
            return outputs @ items.T / self.temperature

        calculate_loss = _next_item_loss

    classes = {"SASRec": WindowSASRec, "GRU4Rec": WindowGRU4Rec, "CORE": WindowCORE}
    for name, cls in classes.items():
        cls.__name__ = cls.__qualname__ = name
    return classes


def frozen_table_class() -> type:
    import torch
    from torch import nn

    class FrozenItemTable(nn.Module):
        """Drop-in for a model's item ``nn.Embedding`` (``content: frozen``): an item with a vector is that
        vector projected to the table's width, fixed (a buffer, never trained); an item without one that
        occurs in training gets a learned ID row; any other item is a zero row."""

        def __init__(self, id_table: nn.Embedding, rows: np.ndarray, has_content: np.ndarray, learn_id: np.ndarray) -> None:
            super().__init__()
            # content is data, not a parameter: non-persistent keeps it out of every checkpoint
            self.register_buffer("content_rows", torch.as_tensor(rows, dtype=torch.float32) * torch.as_tensor(has_content)[:, None],
                                 persistent=False)
            self.register_buffer("learn_id", torch.as_tensor(learn_id & ~has_content, dtype=torch.float32)[:, None], persistent=False)
            self.id_weight = nn.Parameter(id_table.weight.detach().clone())

        @property
        def weight(self) -> torch.Tensor:
            return self.content_rows + self.id_weight * self.learn_id

        @property
        def embedding_dim(self) -> int:
            return self.id_weight.shape[1]

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.content_rows[ids] + self.id_weight[ids] * self.learn_id[ids]

    return FrozenItemTable


def frozen_rows(content: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """The fixed rows of a frozen table: the vectors' top ``width`` principal components, scaled so that
    rows with a vector have mean length 1.

    A frozen table cannot grow its scale as a trained one does; at the ID table's initial scale (SASRec's
    std 0.02: rows of length 0.16) the CE logits would stay in a band too narrow to rank 1,600 items.
    """
    rows = principal_components(content, mask, width)
    lengths = np.linalg.norm(rows[mask], axis=1)
    mean = float(lengths.mean()) if len(lengths) else 0.0
    return rows / mean if mean > 0 else rows


def set_item_table(net: Any, mode: str, content: np.ndarray, mask: np.ndarray, trained: np.ndarray, id_dropout: float) -> None:
    """Put item content into ``net.item_embedding`` (rows in RecBole id order, row 0 = [PAD] with mask
    False): ``init`` / ``fuse`` as the general backends do (``_content.apply_content``), ``frozen`` as a
    :class:`FrozenItemTable`."""
    from recsys_cl.models.recbole._content import apply_content

    if mode == "frozen":
        table = net.item_embedding
        net.item_embedding = frozen_table_class()(table, frozen_rows(content, mask, table.weight.shape[1]), mask, trained)
    else:
        apply_content(net, ["item_embedding"], mode, content, mask, trained, id_dropout)
