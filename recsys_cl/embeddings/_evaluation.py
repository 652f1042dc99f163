"""The held-out sets every learner is scored on: attribute triplets, co-purchase pairs and retrieval
queries, drawn from the seed alone (not the method), so every method's quality scores the same examples."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cl.embeddings._mining import Triplets, attribute_roles, attribute_triplets, copurchase_pairs, split_rows
from recsys_cl.embeddings._options import EmbedOptions
from recsys_cl.embeddings._quality import distance_gap, retrieval_metrics, triplet_accuracy
from recsys_cl.embeddings._records import HeldoutSets, SpaceQuality


class EvaluationSets:
    """Held-out triplets (items with attribute columns), co-purchase pairs (when there are training
    interactions) and retrieval queries over the items ``keep`` selects, each with its training share."""

    def __init__(self, items: pl.DataFrame, keep: np.ndarray, interactions: pl.DataFrame | None, opts: EmbedOptions) -> None:
        self.opts = opts
        rng = np.random.default_rng(opts.train.seed + 1)  # apart from the learner's own draws (seed)
        self.subset = subset = items.filter(pl.Series(keep))
        self.roles = attribute_roles(subset.columns)
        self.triplets: Triplets | None = None
        self.triplets_train: Triplets | None = None
        if self.roles is not None and len(subset) >= 3:
            all_triplets = attribute_triplets(subset, self.roles, rng, level_mix=opts.triplet_mix,
                                              per_anchor=opts.triplets_per_anchor)  # fmt: skip
            train_rows, held_rows = split_rows(len(all_triplets), opts.heldout_share, rng)
            self.triplets, self.triplets_train = all_triplets.subset(held_rows), all_triplets.subset(train_rows)
        self.copurchase: tuple[np.ndarray, np.ndarray] | None = None
        self.copurchase_train: tuple[np.ndarray, np.ndarray] | None = None
        if interactions is not None:
            pos, neg = copurchase_pairs(interactions, subset["item_id"].to_numpy().astype(str), rng,
                                        window_days=opts.window_days, max_pairs=opts.max_pairs)  # fmt: skip
            if len(pos):
                train_rows, held_rows = split_rows(len(pos), opts.heldout_share, rng)
                self.copurchase = (pos[held_rows], neg[held_rows])
                self.copurchase_train = (pos[train_rows], neg[train_rows])
        self.queries: np.ndarray | None = None
        if self.roles is not None:
            r = self.roles
            self.keys = (subset[r["type"]] + "|" + subset[r["colour"]] + "|" + subset[r["gender"]]).to_numpy().astype(str)
            self.category = subset[r["category"]].to_numpy().astype(str)
            n_q = min(opts.max_queries, len(subset))
            self.queries = np.sort(rng.choice(len(subset), n_q, replace=False))

    def describe(self) -> HeldoutSets:
        return HeldoutSets(
            attributes=self.roles,
            heldout_triplets=len(self.triplets) if self.triplets is not None else 0,
            heldout_copurchase_pairs=len(self.copurchase[0]) if self.copurchase else 0,
            retrieval_queries=len(self.queries) if self.queries is not None else 0,
        )

    def query_texts(self) -> list[str]:
        """The retrieval queries as attribute sentences ("Men Black Tshirts")."""
        r = self.roles
        assert r is not None and self.queries is not None
        sub = self.subset[self.queries]
        return [f"{g} {c} {t}" for g, c, t in zip(sub[r["gender"]].to_list(), sub[r["colour"]].to_list(), sub[r["type"]].to_list())]

    def score(self, vectors: np.ndarray, *, text_queries: np.ndarray | None = None,
              image_queries: np.ndarray | None = None, image_mask: np.ndarray | None = None) -> SpaceQuality:
        """Quality of ``vectors`` (rows of the kept items). ``text_queries`` (q, d): attribute sentences
        in the same space (text→item); ``image_queries`` (kept, d): each item's image in that space
        (image→item, for items where ``image_mask``)."""
        triplets = copurchase = item_to_item = text_to_item = image_to_item = None
        if self.triplets is not None and len(self.triplets):
            triplets = triplet_accuracy(vectors, self.triplets)
        if self.copurchase is not None:
            copurchase = distance_gap(vectors, *self.copurchase)
        if self.queries is not None:
            q, ks = self.queries, self.opts.retrieval_ks
            item_to_item = retrieval_metrics(vectors[q], vectors, self.keys[q], self.keys, query_rows=q,
                                             query_category=self.category[q], item_category=self.category, ks=ks)  # fmt: skip
            if text_queries is not None:
                text_to_item = retrieval_metrics(text_queries, vectors, self.keys[q], self.keys,
                                                 query_category=self.category[q], item_category=self.category, ks=ks)  # fmt: skip
            if image_queries is not None:
                q_img = q[image_mask[q]] if image_mask is not None else q
                image_to_item = retrieval_metrics(
                    image_queries[q_img], vectors, self.keys[q_img], self.keys, query_rows=q_img,
                    query_category=self.category[q_img], item_category=self.category, ks=ks,
                )
        return SpaceQuality(triplets, copurchase, item_to_item, text_to_item, image_to_item)
