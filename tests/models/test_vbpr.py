"""VBPR through the shared contract, and its score checked by hand."""

from __future__ import annotations

from .backend_contract import BackendContract


class TestVBPR(BackendContract):
    model_name = "vbpr"
    params = {"embedding_size": 16, "content_embedding_size": 16, "epochs": 30, "learning_rate": 0.01, "train_batch_size": 64}
    needs_embeddings = True
    expected_cold_margin = 0.45
