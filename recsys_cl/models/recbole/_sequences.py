"""Each user's training interactions as a time-ordered sequence, and the RecBole loaders the sequential
backends (``_sequential``) train and validate on.

Only the split's train part is read: a user's sequence is their train rows in time order, same-timestamp
ties in file order (the ``loo`` split's own tie rule), so under ``loo`` the valid item is the next item
after the sequence and the test item the one after that. The test part is never opened here.

Training windows. RecBole turns a sequence into one example per prefix (``<i1> -> i2``, ``<i1, i2> ->
i3``, ...) and runs the network over each prefix for its last position only: on ml-100k that is 97k
sequences of up to 50 items an epoch, several minutes on one CPU core. The networks are causal (each
position sees only the items before it), so one pass over a window of ``max_seq_length`` items gives the
prefix representation at every position, as the SASRec paper trains. Windows are cut back from the end of
each user's sequence in steps of ``max_seq_length``: every item except a user's first is the target of
exactly one position per epoch, and the most recent window (what ``recommend`` encodes) has full context.
A target early in an older window sees only the window's items before it, not the ``max_seq_length``
items a RecBole prefix would.

RecBole ids are our indices + 1 (0 is [PAD]) for users and items alike: no vocabulary remapping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError

#: protocols whose parts are in time order per user: the valid / test items come after the train ones.
#: ``cold-item`` holds whole items out instead of each user's latest purchases: nothing comes "next".
SEQUENCE_PROTOCOLS = ("loo", "temporal")
#: RecBole interaction fields of the training windows: the next item after each position (0 = none),
#: and a sampled negative per position for the BPR loss
NEXT_ITEMS = "next_item_id_list"
NEGATIVE_NEXT_ITEMS = "neg_next_item_id_list"


@dataclasses.dataclass(frozen=True)
class UserSequences:
    """``items[indptr[u]:indptr[u + 1]]``: user ``u``'s training items (our indices), oldest first."""

    indptr: np.ndarray  # (n_users + 1,) int64
    items: np.ndarray  # (train rows,) int64

    @classmethod
    def from_split(cls, split: EncodedSplit, model: str) -> "UserSequences":
        """The train part's rows per user in time order (ties: file order). Errors name ``model``."""
        frame = split.split.train
        if "timestamp" not in frame.columns:
            raise InputError(f"{model}: the train part has no timestamp column; a sequential model needs each user's "
                             "purchases in time order")
        times = frame["timestamp"].cast(pl.Float64).to_numpy()
        undated = int(np.count_nonzero(~np.isfinite(times)))
        if undated:
            raise InputError(f"{model}: {undated} of {len(times)} train interactions have no timestamp; a sequential "
                             "model needs each user's purchases in time order")
        users = split.user_index(frame["user_id"])
        items = split.item_index(frame["item_id"])
        order = np.lexsort((times, users))  # stable: same-time rows keep their file order
        indptr = np.zeros(split.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=split.n_users), out=indptr[1:])
        return cls(indptr, items[order].astype(np.int64))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def windows(self, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """``(first_inputs, last_targets)``: flat positions of every training window; a window's inputs are
        ``items[first:last]`` and its targets ``items[first + 1:last + 1]`` (at most ``max_len`` each)."""
        starts, ends = self.indptr[:-1], self.indptr[1:]
        targets = np.maximum(ends - starts - 1, 0)
        per_user = -(-targets // max_len)
        user = np.repeat(np.arange(len(starts)), per_user)
        back = np.arange(len(user)) - np.repeat(np.cumsum(per_user) - per_user, per_user)
        last = ends[user] - 1 - back * max_len
        return np.maximum(starts[user], last - max_len), last

    def latest(self, users: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """RecBole item-id lists ``(len(users), max_len)`` of each user's last ``max_len`` items, and their lengths."""
        ends = self.indptr[users + 1]
        return self.slices(np.maximum(self.indptr[users], ends - max_len), ends, max_len)

    def slices(self, first: np.ndarray, stop: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """``items[first:stop]`` per row as RecBole ids (our index + 1), left-aligned and 0-padded to the
        longest row (at most ``max_len``), and the row lengths.

        Padding only to the longest row: the networks are causal and read positions from the left, so a
        narrower batch gives the same outputs, and most users' sequences are far shorter than ``max_len``.
        """
        lengths = (stop - first).astype(np.int64)
        offsets = np.arange(min(max_len, max(int(lengths.max(initial=0)), 1)))
        inside = offsets[None, :] < lengths[:, None]
        positions = np.where(inside, first[:, None] + offsets[None, :], 0)
        found = self.items[positions] + 1 if len(self.items) else np.zeros_like(positions)
        return np.where(inside, found, 0), lengths


class SequenceCatalogue:
    """What RecBole's sequential models, loaders and trainer read from a dataset: the numbers of user and
    item ids (ours + [PAD]), the item-list length, the item-id field.

    Stands in for RecBole's ``Dataset``, whose construction (reading, remapping every token, per-prefix
    augmentation in a Python loop) is not needed for ids that are already integers, and whose sequential
    benchmark path fails on RecBole 1.2.1 (``Tensor.agg``).
    """

    def __init__(self, config: Any, n_users: int, n_items: int) -> None:
        self.uid_field, self.iid_field = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        self.user_num, self.item_num = n_users + 1, n_items + 1
        self.field2seqlen = {self.iid_field + config["LIST_SUFFIX"]: config["MAX_ITEM_LIST_LENGTH"]}

    def num(self, field: str) -> int:
        counts = {self.uid_field: self.user_num, self.iid_field: self.item_num}
        if field not in counts:
            raise KeyError(f"no id field {field!r}")
        return counts[field]

    def get_item_feature(self) -> Any:
        import torch
        from recbole.data.interaction import Interaction

        return Interaction({self.iid_field: torch.arange(self.item_num)})


def loader_classes() -> tuple[type, type]:
    """``(WindowLoader, NextItemEvalLoader)``: RecBole loader classes over :class:`UserSequences`."""
    from logging import getLogger

    import torch
    from recbole.data.dataloader import FullSortEvalDataLoader
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.data.interaction import Interaction

    def tensors(values: dict[str, np.ndarray]) -> Any:
        return Interaction({name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in values.items()})

    class WindowLoader(AbstractDataLoader):
        """Training batches of windows (shuffled by RecBole's seeded generator): item lists, their lengths,
        the next item at each position and, for the BPR loss, one uniform negative per position."""

        def __init__(self, config: Any, catalogue: SequenceCatalogue, sequences: UserSequences, negatives: bool) -> None:
            self.sequences, self.max_len = sequences, config["MAX_ITEM_LIST_LENGTH"]
            self.first, self.last = sequences.windows(self.max_len)
            self.sample_size = len(self.first)
            self.item_seq = catalogue.iid_field + config["LIST_SUFFIX"]
            self.item_seq_len = config["ITEM_LIST_LENGTH_FIELD"]
            self.n_ids = catalogue.item_num
            self.negative_rng = np.random.default_rng(config["seed"]) if negatives else None
            super().__init__(config, catalogue, None, shuffle=True)

        def _init_batch_size_and_step(self) -> None:
            # train_batch_size counts next-item targets, as RecBole's prefix batches do: windows of the
            # mean window length (short histories make short windows) make batches of that many on average
            mean_targets = float(np.mean(self.last - self.first)) if self.sample_size else 1.0
            windows = max(1, round(self.config["train_batch_size"] / mean_targets))
            self.step = windows
            self.set_batch_size(windows)

        def collate_fn(self, index: Any) -> Any:
            rows = np.asarray(index, dtype=np.int64)
            first, last = self.first[rows], self.last[rows]
            inputs, lengths = self.sequences.slices(first, last, self.max_len)
            targets, _ = self.sequences.slices(first + 1, last + 1, self.max_len)
            batch = {self.item_seq: inputs, self.item_seq_len: lengths, NEXT_ITEMS: targets}
            if self.negative_rng is not None:
                batch[NEGATIVE_NEXT_ITEMS] = self._negatives(targets)
            return tensors(batch)

        def _negatives(self, targets: np.ndarray) -> np.ndarray:
            """A uniform item other than the target at each position (RecBole's sequential sampler
            excludes the target only); 0 where there is no target."""
            drawn = self.negative_rng.integers(1, self.n_ids, size=targets.shape)
            clash = (drawn == targets) & (targets > 0)
            while clash.any():  # at least two items (checked before training): ends after a few rounds
                drawn[clash] = self.negative_rng.integers(1, self.n_ids, size=int(clash.sum()))
                clash = (drawn == targets) & (targets > 0)
            return np.where(targets > 0, drawn, 0)

    class NextItemEvalLoader(FullSortEvalDataLoader):
        """Validation batches: each user's latest training items as the input, their valid items as the
        positives, their training items masked (RecBole's history index), as our evaluator ranks."""

        def __init__(self, config: Any, catalogue: SequenceCatalogue, sequences: UserSequences, users: np.ndarray,
                     positives: Any, history: Any) -> None:
            self.logger = getLogger()
            self.sequences, self.max_len = sequences, config["MAX_ITEM_LIST_LENGTH"]
            self.users, self.positives, self.history = users, positives.tocsr(), history.tocsr()
            self.uid_field = catalogue.uid_field
            self.item_seq = catalogue.iid_field + config["LIST_SUFFIX"]
            self.item_seq_len = config["ITEM_LIST_LENGTH_FIELD"]
            self.is_sequential = True
            self.sample_size = len(users)
            AbstractDataLoader.__init__(self, config, catalogue, None, shuffle=False)

        def _init_batch_size_and_step(self) -> None:
            # eval_batch_size counts user x item scores, as in RecBole's full-sort loader
            users = max(1, self.config["eval_batch_size"] // self._dataset.item_num)
            self.step = users
            self.set_batch_size(users * self._dataset.item_num)

        def collate_fn(self, index: Any) -> Any:
            users = self.users[np.asarray(index, dtype=np.int64)]
            inputs, lengths = self.sequences.latest(users, self.max_len)
            interaction = tensors({self.uid_field: users + 1, self.item_seq: inputs, self.item_seq_len: lengths})

            def pairs(matrix: Any) -> tuple[Any, Any]:
                coo = matrix[users].tocoo()
                return torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64) + 1)

            positive_u, positive_i = pairs(self.positives)
            return interaction, pairs(self.history), positive_u, positive_i

    return WindowLoader, NextItemEvalLoader
