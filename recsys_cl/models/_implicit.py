"""Matrix factorisation from the ``implicit`` library: ALS and BPR (CPU implementations).

Both are trained on the user x item training matrix (counts as confidence for ALS, presence for
BPR) and rank with the shared ``topk_from_factors`` (dot product of the learned factors, training
items excluded, ties to the lower item index), so their lists are comparable with every other model.
Items with no training interaction keep ALS's zero factors / BPR's pushed-down random factors: they
are unknown to these pure-ID models and score low, as they should.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.models._base import FitOptions, RecommendOptions, Recommender, register
from recsys_cl.models._epoch_validation import EpochValidationConfig, due, valid_score_of_factors


class ALSConfig(EpochValidationConfig):
    factors: int = Field(64, ge=1)
    epochs: int = Field(15, ge=1, description="ALS sweeps (implicit's iterations)")
    reg: float = Field(0.01, ge=0, description="L2 regularisation")
    alpha: float = Field(1.0, gt=0, description="confidence weight of an interaction count")
    # Each user's (item's) least-squares solve is independent, so threads do not change the result.
    num_threads: int = Field(2, ge=0, description="0 = all cores")


class BPRConfig(EpochValidationConfig):
    factors: int = Field(64, ge=1)
    epochs: int = Field(100, ge=1, description="passes over the training pairs (implicit's iterations)")
    learning_rate: float = Field(0.01, gt=0)
    reg: float = Field(0.01, ge=0, description="L2 regularisation")
    # Several threads update shared factors Hogwild-style: faster, but the result then depends on
    # thread timing, so the default of one thread keeps runs reproducible for a given seed.
    num_threads: int = Field(1, ge=0, description="0 = all cores; > 1 is not reproducible")


class _ImplicitModel(Recommender):
    """Shared fit / recommend around an ``implicit.cpu`` model."""

    def _make(self) -> Any:
        raise NotImplementedError

    def _common(self) -> dict[str, Any]:
        """Constructor arguments both implicit models share, from our conventional config names."""
        c = self.config
        return {
            "factors": c.factors,
            "regularization": c.reg,
            "iterations": c.epochs,
            "num_threads": c.num_threads,
            "random_state": c.seed,
        }

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        from threadpoolctl import threadpool_limits

        epochs = self.config.epochs
        done = 0

        def callback(*_: Any) -> None:
            # implicit calls this after each epoch with the factors updated in place, so a validation
            # here scores the model as it stands; report_epoch may raise (a pruned trial) to stop the fit.
            nonlocal done
            done += 1
            if options.progress is not None:
                options.progress(done, epochs)
            score = valid_score_of_factors(self, options, *self._factors(model)) if due(self.config, done) else None
            self.report_epoch(options, done, score)

        # implicit asks for single-threaded BLAS (it parallelises itself, and warns otherwise).
        with threadpool_limits(1, "blas"):
            model = self._make()  # implicit checks the BLAS threads when the model is created
            model.fit(split.train.astype(np.float32).tocsr(), show_progress=False, callback=callback)
        self.user_factors, self.item_factors = self._factors(model)

    @staticmethod
    def _factors(model: Any) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(model.user_factors, dtype=np.float32), np.asarray(model.item_factors, dtype=np.float32)

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        return self._rank_by_factors(user_idx, k, options, self.user_factors, self.item_factors)


@register("implicit-als")
class ImplicitALS(_ImplicitModel):
    """Weighted-matrix-factorisation ALS (Hu, Koren & Volinsky 2008) from ``implicit``."""

    Config = ALSConfig

    def _make(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(alpha=self.config.alpha, **self._common())


@register("implicit-bpr")
class ImplicitBPR(_ImplicitModel):
    """Bayesian personalised ranking (Rendle et al. 2009) from ``implicit``; the item factors carry a bias column."""

    Config = BPRConfig

    def _make(self) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(learning_rate=self.config.learning_rate, **self._common())
