"""``text-pca``: the text encoder's item vectors projected onto their top principal components.

A learner is a subclass of ``recsys_cl.embeddings.Learner``: it declares what it reads (``reads_text``,
``reads_images``, ``reads_interactions``), its typed ``Options`` (an ``EmbedOptions`` subclass) and
``fit``, which gets the base vectors recsys-cl encoded once (``LearnerInputs``) and returns one vector
per kept item (``Learned``). Quality (held-out retrieval, triplets) is scored by recsys-cl as for any learner.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from recsys_cl.embeddings import EmbedOptions, Learned, Learner, LearnerInputs


class TextPCAOptions(EmbedOptions):
    components: int = Field(16, ge=1, description="dimensions kept")


class TextPCA(Learner):
    Options = TextPCAOptions
    reads_text = True

    def fit(self, data: LearnerInputs) -> Learned:
        assert data.text_vectors is not None
        vectors = data.text_vectors[data.keep].astype(np.float64)
        centred = vectors - vectors.mean(axis=0)
        _, _, directions = np.linalg.svd(centred, full_matrices=False)
        kept = directions[: self.options.components]
        # SVD's signs are arbitrary: fix each direction's sign so the output is the same on every machine
        kept = kept * np.where(kept[np.arange(len(kept)), np.abs(kept).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
        return Learned((centred @ kept.T).astype(np.float32))
