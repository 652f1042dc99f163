"""FREEDOM through the shared contract."""

from __future__ import annotations

from .backend_contract import BackendContract


class TestFREEDOM(BackendContract):
    model_name = "freedom"
    params = {"embedding_size": 16, "epochs": 30, "learning_rate": 0.01, "train_batch_size": 64, "knn_k": 5}
    needs_embeddings = True
    expected_cold_margin = 0.45
