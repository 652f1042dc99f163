"""``cooccurrence``: items bought by the same users as the user's own items score high.

A model is a subclass of ``recsys_cl.models.Recommender`` with a typed ``Config`` (pydantic, unknown
keys refused) and ``_fit(split, item_embeddings, options)``; it ranks either by ``_score`` (dense scores
of a chunk of users, ranked and filtered by recsys-cl's shared top-K) or by its own ``_recommend``.
Everything else — training items left out (or not, ``exclude_seen``), user-id checks, timing, the
rankings object — is the base class's. ``options`` (``FitOptions``) carries what this one call needs
(a progress callback, ``on_epoch`` for models that validate per epoch): the model keeps none of it.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from recsys_cl.models import ModelConfig, Recommender


class CoOccurrenceConfig(ModelConfig):
    normalise: bool = Field(True, description="divide co-occurrence counts by the item's popularity (cosine-like)")


class CoOccurrence(Recommender):
    """score(u, j) = sum over the user's training items i of C[i, j], C = item-item co-occurrence."""

    Config = CoOccurrenceConfig

    def _fit(self, split, item_embeddings, options) -> None:
        train = split.train.astype(np.float32)  # (users, items) CSR
        counts = (train.T @ train).toarray()  # dense (items, items): fine for an example, not for H&M's 105k items
        np.fill_diagonal(counts, 0.0)
        if self.config.normalise:
            popularity = np.sqrt(np.maximum(counts.sum(axis=1), 1.0))
            counts = counts / popularity[:, None] / popularity[None, :]
        self.cooccurrence = counts.astype(np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.encoded is not None
        return np.asarray(self.encoded.train[user_idx] @ self.cooccurrence, dtype=np.float32)
