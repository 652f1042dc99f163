"""Our split as RecBole's dataset and loaders: ``EncodedDataset``, an array-based sampler and full-sort
loader (same negatives and batches as RecBole's, without a Python set / tensor per user, which does
not fit H&M's 1.37M users), and the map between RecBole's ids and ours.
"""

from __future__ import annotations

from logging import getLogger
from typing import Any

import numpy as np

from recsys_cl.compat.recbole import prepare_loaders
from recsys_cl.data import EncodedSplit
from recsys_cl.models.recbole._validation import EXCLUDE_SEEN_KEY, valid_history


def encoded_dataset_class() -> type:
    from recbole.data.dataset import Dataset
    from recbole.utils import FeatureSource, FeatureType

    class EncodedDataset(Dataset):
        """RecBole ``Dataset`` whose interactions come from an ``EncodedSplit`` instead of files.

        Tokens are our user / item indices, as integers: RecBole remaps them exactly as it would their
        strings (same ids, in order of first appearance), without 31.8M Python strings per column at
        H&M's full size. Every user and item of our vocabularies is listed as a user / item feature,
        so all of them get a RecBole id (cold items too).
        """

        def __init__(self, config: Any, encoded: EncodedSplit) -> None:
            self._encoded = encoded
            super().__init__(config)

        def _load_data(self, token: str, dataset_path: str) -> None:
            import pandas as pd

            enc = self._encoded
            users, items, sizes = [], [], []
            for part in ("train", "valid", "test"):
                m = enc.part(part).tocoo()
                # one row per purchase, as in the atomic files (counts are whole numbers)
                repeat = np.rint(m.data).astype(np.int64)
                users.append(np.repeat(m.row.astype(np.int64), repeat))
                items.append(np.repeat(m.col.astype(np.int64), repeat))
                sizes.append(int(repeat.sum()))
            self.inter_feat = pd.DataFrame({self.uid_field: np.concatenate(users), self.iid_field: np.concatenate(items)})
            self.file_size_list = sizes
            self.user_feat = pd.DataFrame({self.uid_field: np.arange(enc.n_users)})
            self.item_feat = pd.DataFrame({self.iid_field: np.arange(enc.n_items)})
            for field, source in ((self.uid_field, FeatureSource.USER_ID), (self.iid_field, FeatureSource.ITEM_ID)):
                self.field2type[field] = FeatureType.TOKEN
                self.field2source[field] = source
                self.field2seqlen[field] = 1

    return EncodedDataset


class UsedPairs:
    """The (user, item) pairs a sampler phase treats as used, as sorted int64 keys ``user * n_items + item``.

    RecBole's ``Sampler`` keeps a Python set per user per phase (three copies of every H&M purchase as
    set entries: gigabytes and a minute of Python at full size); one sorted key array with the phase
    in which each pair first appears answers the same membership questions with ``searchsorted``.
    """

    def __init__(self, keys: np.ndarray, first_phase: np.ndarray, phase: int, n_items: int) -> None:
        self.keys, self.first_phase, self.phase, self.n_items = keys, first_phase, phase, n_items

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        query = users.astype(np.int64) * self.n_items + items
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return (self.keys[pos] == query) & (self.first_phase[pos] <= self.phase)

    def items_of(self, user: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.keys, [user * self.n_items, (user + 1) * self.n_items])
        keep = self.first_phase[lo:hi] <= self.phase
        return self.keys[lo:hi][keep] % self.n_items

    def __getitem__(self, user: int) -> set:
        """RecBole's view (a set of item ids), for any code path that asks for one user."""
        return set(self.items_of(int(user)).tolist())

    def matrix(self, n_users: int) -> Any:
        import scipy.sparse as sp

        keys = self.keys[self.first_phase <= self.phase]
        rows, cols = np.divmod(keys, self.n_items)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
        return sp.csr_matrix((np.ones(len(keys), dtype=np.bool_), cols.astype(np.int32), indptr), shape=(n_users, self.n_items))


def loader_classes() -> tuple[type, type]:
    """RecBole's ``Sampler`` and ``FullSortEvalDataLoader`` with array-based internals (same results)."""
    import torch
    from recbole.data.dataloader import FullSortEvalDataLoader
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.data.interaction import Interaction
    from recbole.sampler import Sampler
    from recbole.utils import ModelType

    class PairSampler(Sampler):
        """``Sampler`` whose used ids are :class:`UsedPairs`; negatives are drawn as RecBole draws them
        (NumPy's global generator, same rejections) but among the items with a training interaction only
        (see ``_uni_sampling``); the membership test is array-based."""

        def get_used_ids(self) -> dict[str, UsedPairs]:
            n = self.item_num
            keys = np.concatenate(
                [d.inter_feat[self.uid_field].numpy().astype(np.int64) * n + d.inter_feat[self.iid_field].numpy() for d in self.datasets]
            )
            phase = np.concatenate([np.full(len(d.inter_feat), p, dtype=np.uint8) for p, d in enumerate(self.datasets)])
            order = np.argsort(keys, kind="stable")  # stable: a pair's first row is from its earliest phase
            keys, phase = keys[order], phase[order]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = keys[1:] != keys[:-1]
            keys, phase = keys[first], phase[first]
            # negatives come from the trained items (_uni_sampling): a user who bought all of them has none
            trained = keys[phase == 0]
            if (np.bincount(trained // n, minlength=self.user_num) >= len(self._negative_pool())).any() or \
                    (np.bincount(keys // n, minlength=self.user_num) + 1 == n).any():  # [pad] is an item
                raise ValueError(
                    "Some users have interacted with all items, which we can not sample negative items for them. "
                    "Please set `user_inter_num_interval` to filter those users."
                )
            return {name: UsedPairs(keys, phase, p, n) for p, name in enumerate(self.phases)}

        def _uni_sampling(self, sample_num: int) -> np.ndarray:
            """Uniform over the items with a training interaction (RecBole: over every item).

            An item without one (a held-out new item of the cold-item protocol) does not exist yet when
            the model is trained: drawn as a negative it would only ever be pushed down, and a content
            projection learns "this content is never bought" for exactly the new items (on ml-100k
            cold-item, NeuMF fused with text ranked them under every warm item: HR@10 0.001, Random 0.067).
            """
            pool = self._negative_pool()
            return pool[np.random.randint(0, len(pool), sample_num)]

        def _negative_pool(self) -> np.ndarray:
            if getattr(self, "_pool", None) is None:
                train = self.datasets[self.phases.index("train")] if "train" in self.phases else self.datasets[0]
                self._pool = np.unique(train.inter_feat[self.iid_field].numpy()).astype(np.int64)
                self._pool = self._pool[self._pool > 0]  # [PAD] is id 0
            return self._pool

        def sample_by_key_ids(self, key_ids: Any, num: int) -> Any:
            key_ids = np.array(key_ids)
            total_num = len(key_ids) * num
            if (key_ids == key_ids[0]).all():
                used = self.used_ids.items_of(int(key_ids[0]))
                value_ids = self.sampling(total_num)
                check_list = np.arange(total_num)[np.isin(value_ids, used)]
                while len(check_list) > 0:
                    value_ids[check_list] = value = self.sampling(len(check_list))
                    check_list = check_list[np.isin(value, used)]
            else:
                value_ids = np.zeros(total_num, dtype=np.int64)
                check_list = np.arange(total_num)
                key_ids = np.tile(key_ids, num)
                while len(check_list) > 0:
                    value_ids[check_list] = self.sampling(len(check_list))
                    check_list = check_list[self.used_ids.contains(key_ids[check_list], value_ids[check_list])]
            return torch.tensor(value_ids, dtype=torch.long)

    class FullSortLoader(FullSortEvalDataLoader):
        """``FullSortEvalDataLoader`` with each user's positive and history items as CSR rows, not a
        tensor per user built in a Python loop; batches carry the same (row, item) index pairs.

        ``recsys_cl_valid_users`` in the config limits validation to a seeded sample of that many users:
        a full-sort validation over H&M's 1.37M users costs as much as ranking all of them, every epoch.
        ``recsys_cl_exclude_seen`` (set by every backend) makes validation mask each user's training items
        (all of them) or none, as our evaluator ranks (``_validation``); without it, RecBole's mask.
        """

        def __init__(self, config: Any, dataset: Any, sampler: Any, shuffle: bool = False) -> None:
            if config["MODEL_TYPE"] == ModelType.SEQUENTIAL or not isinstance(getattr(sampler, "used_ids", None), UsedPairs):
                super().__init__(config, dataset, sampler, shuffle=shuffle)
                return
            import scipy.sparse as sp

            self.logger = getLogger()
            self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
            self.is_sequential = False
            n_users, n_items = dataset.user_num, dataset.item_num
            users = dataset.inter_feat[self.uid_field].numpy()
            items = dataset.inter_feat[self.iid_field].numpy()
            positive = sp.csr_matrix((np.ones(len(users), dtype=np.bool_), (users, items)), shape=(n_users, n_items))
            positive.sum_duplicates()
            self._positive = positive
            exclude_seen = config[EXCLUDE_SEEN_KEY] if sampler.phase == "valid" else None
            if exclude_seen is None:  # RecBole's mask: used items that are not positives of this part
                self._history = (sampler.used_ids.matrix(n_users) > positive).tocsr()
            else:  # validation masks as our evaluator (see _validation)
                pairs = sampler.used_ids
                trained = UsedPairs(pairs.keys, pairs.first_phase, 0, pairs.n_items).matrix(n_users)
                self._history = valid_history(trained, exclude_seen)
            self.uid2items_num = np.diff(positive.indptr).astype(np.int64)
            eval_users = np.flatnonzero(self.uid2items_num)
            sample = config["recsys_cl_valid_users"] if sampler.phase == "valid" else None
            if sample is not None and len(eval_users) > sample:
                rng = np.random.default_rng(config["seed"])
                eval_users = np.sort(rng.choice(eval_users, size=sample, replace=False))
            self.uid_list = torch.as_tensor(eval_users, dtype=torch.int64)
            self.user_df = dataset.join(Interaction({self.uid_field: self.uid_list}))
            self.sample_size = len(self.user_df)
            AbstractDataLoader.__init__(self, config, dataset, sampler, shuffle=False)

        def collate_fn(self, index: Any) -> Any:
            if not hasattr(self, "_positive"):
                return super().collate_fn(index)
            user_df = self.user_df[np.array(index)]
            uids = user_df[self.uid_field].numpy()
            history, positive = self._history[uids].tocoo(), self._positive[uids].tocoo()

            def pair(m: Any) -> tuple[Any, Any]:
                return torch.from_numpy(m.row.astype(np.int64)), torch.from_numpy(m.col.astype(np.int64))

            positive_u, positive_i = pair(positive)
            return user_df, pair(history), positive_u, positive_i

    return PairSampler, FullSortLoader


def data_loaders(config: Any, dataset: Any) -> tuple[Any, Any, Any]:
    """Train / valid / test loaders of ``dataset`` with :func:`loader_classes` (RecBole's ``data_preparation`` otherwise)."""
    sampler, loader = loader_classes()
    return prepare_loaders(config, dataset, sampler_class=sampler, full_sort_loader_class=loader)


class IdMap:
    """RecBole ids <-> our indices (RecBole id 0 is [PAD])."""

    def __init__(self, dataset: Any, encoded: EncodedSplit) -> None:
        uid, iid = dataset.uid_field, dataset.iid_field
        self.ours_of_rb_item = dataset.field2id_token[iid][1:].astype(np.int64)  # RecBole id r+1 -> our item
        self.rb_of_our_user = np.zeros(encoded.n_users, dtype=np.int64)
        self.rb_of_our_user[dataset.field2id_token[uid][1:].astype(np.int64)] = np.arange(1, dataset.user_num)
        if len(self.ours_of_rb_item) != encoded.n_items or dataset.user_num - 1 != encoded.n_users:
            raise AssertionError("RecBole vocabulary differs from the encoded split's")

    def rb_rows(self, matrix: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Rows of ``matrix`` (our item order) in RecBole id order, with a ``fill`` row for [PAD]."""
        out = np.full((len(self.ours_of_rb_item) + 1, *matrix.shape[1:]), fill, dtype=matrix.dtype)
        out[1:] = matrix[self.ours_of_rb_item]
        return out
