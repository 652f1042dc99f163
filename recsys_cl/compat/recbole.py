"""Make RecBole 1.2.1 work on NumPy 2, pandas 3, SciPy >= 1.13 and torch >= 2.6.

Importing this module applies :func:`patch_recbole` (idempotent). Each work-around is the
smallest change that restores RecBole's intended behaviour; none of them relaxes a check RecBole
makes. ``ORIGINALS`` keeps every replaced function so tests can show the unpatched failure.

Work-arounds (each has a test in ``tests/compat/`` that fails without it):

1. ``Config.compatibility_settings`` re-creates removed NumPy aliases (``np.float`` ...) from
   ``np.float_``/``np.complex_``/``np.unicode_``, which NumPy 2 removed itself -> AttributeError
   on every ``Config(...)``. Replaced by the same aliases built from names NumPy 2 has.
2. ``Dataset._fill_nan`` and ``Dataset._load_feat`` call ``df[col].fillna(..., inplace=True)``;
   under pandas 3 copy-on-write that writes into a temporary copy, so missing values silently
   stay NaN (float/token fields) or crash later (empty ``token_seq`` cells). Fixed by assignment.
3. ``Dataset._remap`` computes split points with ``Series.agg(len)``, which pandas 3 applies to
   the whole Series instead of to each element: loading any ``token_seq`` field (our ``text``)
   fails. Replaced by the same code with ``Series.map(len)``. (The same idiom in ``_normalize`` /
   ``_discretization`` of ``float_seq`` fields, the KG and the sequential datasets is not patched:
   it runs only with options and model families this project does not use.)
4. ``dok_matrix._update`` (private, removed in SciPy 1.13) is used by LightGCN, NGCF, NCL,
   GCMC, SpectralCF, KGIN, MCCLK to build the adjacency matrix. Re-added as a call to
   SciPy's public, checked ``dok_matrix.update``.
5. ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and RecBole's checkpoints
   pickle its whole ``Config`` object, so restoring the best model fails. We do NOT load with
   ``weights_only=False`` (arbitrary code execution on a crafted file); instead checkpoints are
   saved with plain data only (tensors, numbers, strings), which the safe loader accepts.
   Non-tensor "other parameters" (e.g. ItemKNN's SciPy similarity matrix) stay in memory on the
   trainer and are restored from there.

``recbole.quick_start`` must never be imported: it imports ray <= 2.6.3, which breaks on NumPy 2.
Build Config / dataset / model / Trainer directly instead.
"""

from __future__ import annotations

import copy
import types
from typing import Any, Callable

import numpy as np

#: ``"Class.method"`` -> the RecBole/SciPy function the patch replaced (for tests and debugging).
ORIGINALS: dict[str, Callable[..., Any]] = {}
_PATCHED = False

# NumPy aliases RecBole's ``Config.compatibility_settings`` installs, mapped to NumPy-2 types with
# the same meaning they had when RecBole was written (np.float_ == float64, np.unicode_ == str_).
_NUMPY_ALIASES = {
    "bool": np.bool_,
    "int": np.int_,
    "float": np.float64,
    "complex": np.complex128,
    "object": np.object_,
    "str": np.str_,
    "long": np.int_,
    "unicode": np.str_,
}


def _compatibility_settings(self: Any) -> None:
    """RecBole's own alias shim, written with names that exist in NumPy 2."""
    for name, value in _NUMPY_ALIASES.items():
        setattr(np, name, value)


def install_numpy_aliases() -> None:
    """The aliases RecBole's modules use at call time (``np.float`` in metrics, interaction, dataset)."""
    _compatibility_settings(None)


def _fill_nan(self: Any) -> None:
    """RecBole's ``Dataset._fill_nan`` with assignment instead of column ``fillna(inplace=True)``."""
    from recbole.utils import FeatureType

    for feat_name in self.feat_name_list:
        feat = getattr(self, feat_name)
        for field in feat:
            ftype = self.field2type[field]
            if ftype == FeatureType.TOKEN:
                feat[field] = feat[field].fillna(value=0)
            elif ftype == FeatureType.FLOAT:
                feat[field] = feat[field].fillna(value=feat[field].mean())
            else:
                dtype = np.int64 if ftype == FeatureType.TOKEN_SEQ else np.float64
                feat[field] = feat[field].apply(lambda x: np.array([], dtype=dtype) if isinstance(x, float) else x)


def _remap(self: Any, remap_list: list) -> None:
    """RecBole's ``Dataset._remap`` with ``Series.map(len)`` where it had ``Series.agg(len)``.

    pandas 3 applies a callable given to ``Series.agg`` to the whole Series (``len(series)``),
    where pandas < 3 applied it per element; on a ``token_seq`` field (e.g. our ``text``) the
    split points become wrong and the assignment fails with a length mismatch.
    """
    import pandas as pd

    if len(remap_list) == 0:
        return
    tokens, split_point = self._concat_remaped_tokens(remap_list)
    new_ids_list, mp = pd.factorize(tokens)
    new_ids_list = np.split(new_ids_list + 1, split_point)
    mp = np.array(["[PAD]"] + list(mp))
    token_id = {t: i for i, t in enumerate(mp)}

    from recbole.utils import FeatureType

    for (feat, field, ftype), new_ids in zip(remap_list, new_ids_list):
        if field not in self.field2id_token:
            self.field2id_token[field] = mp
            self.field2token_id[field] = token_id
        if ftype == FeatureType.TOKEN:
            feat[field] = new_ids
        elif ftype == FeatureType.TOKEN_SEQ:
            split_point = np.cumsum(feat[field].map(len).to_numpy())[:-1]
            feat[field] = np.split(new_ids, split_point)


class _PandasWithSeqFill(types.ModuleType):
    """pandas, except that ``read_csv`` fills missing ``*_seq`` cells with "" by assignment.

    Installed as the ``pd`` global of ``recbole.data.dataset.dataset`` only: ``_load_feat`` reads a
    file then does ``df[field].fillna(value="", inplace=True)`` on sequence columns, a no-op under
    copy-on-write, after which ``nan.split`` crashes. Filling right after the read is exactly what
    the in-place call meant to do; copying the 90-line ``_load_feat`` to change one line is not.
    """

    def __init__(self, pandas_module: types.ModuleType) -> None:
        super().__init__(pandas_module.__name__)
        self._pandas = pandas_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pandas, name)

    def read_csv(self, *args: Any, **kwargs: Any) -> Any:
        frame = self._pandas.read_csv(*args, **kwargs)
        for column in frame.columns:
            # columns are still "name:type" here (RecBole renames them after the read)
            if isinstance(column, str) and column.endswith("seq"):
                frame[column] = frame[column].fillna(value="")
        return frame


def _dok_update(self: Any, data: dict) -> None:
    """SciPy < 1.13's private ``dok_matrix._update`` via the public (index-checked) ``update``."""
    self.update(data)


def _plain(value: Any) -> bool:
    """True if ``torch.load(weights_only=True)`` can read ``value`` back."""
    import torch

    if isinstance(value, np.generic):  # np.float64 subclasses float but pickles as a NumPy global
        return False
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    return False


def _save_checkpoint(self: Any, epoch: int, verbose: bool = True, **kwargs: Any) -> None:
    """RecBole's ``Trainer._save_checkpoint`` writing only what the weights-only loader accepts.

    The pickled ``Config`` object becomes ``{"model": name}`` (all ``resume_checkpoint`` reads of
    it); other parameters that are not plain data are kept in ``self._memory_other_parameter``.
    """
    import torch
    from recbole.utils import set_color

    if not self.config["single_spec"] and self.config["local_rank"] != 0:
        return
    saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
    other = self.model.other_parameter()
    plain_other = {k: v for k, v in other.items() if _plain(v)}
    memory = getattr(self, "_memory_other_parameter", None)
    if memory is None:
        memory = self._memory_other_parameter = {}
    memory[str(saved_model_file)] = copy.deepcopy({k: v for k, v in other.items() if k not in plain_other})
    best = self.best_valid_score
    def _scalar(x: Any) -> Any:  # NumPy / 0-d tensor scores -> Python numbers
        return x.item() if isinstance(x, (np.generic, torch.Tensor)) and np.size(x) == 1 else x

    state = {
        "config": {"model": str(self.config["model"])},
        "epoch": int(epoch),
        "cur_step": int(self.cur_step),
        "best_valid_score": _scalar(best),
        "state_dict": self.model.state_dict(),
        "other_parameter": plain_other,
        "optimizer": self.optimizer.state_dict(),
    }
    # default pickle protocol: the weights-only unpickler rejects protocol 4 framing (opcode 149)
    torch.save(state, saved_model_file)
    if verbose:
        self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")


def _restore_memory_other(self: Any, checkpoint_file: Any) -> None:
    kept = getattr(self, "_memory_other_parameter", {}).get(str(checkpoint_file))
    if kept:
        self.model.load_other_parameter(copy.deepcopy(kept))


def load_best_model(trainer: Any, model_file: Any = None) -> None:
    """Put the checkpointed (best) weights back into ``trainer.model``, reading with the safe loader."""
    import torch

    checkpoint_file = model_file or trainer.saved_model_file
    checkpoint = torch.load(checkpoint_file, map_location=trainer.device)  # weights_only=True (default)
    trainer.model.load_state_dict(checkpoint["state_dict"])
    trainer.model.load_other_parameter(checkpoint.get("other_parameter"))
    _restore_memory_other(trainer, checkpoint_file)


_restore_best = load_best_model


def _wrap_evaluate(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Trainer.evaluate`` that restores the best model itself, then lets RecBole evaluate.

    The checkpoint is read with ``torch.load``'s safe default (weights only), as RecBole does; the
    extra step puts back the non-plain other parameters kept in memory by ``_save_checkpoint``.
    """

    def evaluate(self: Any, eval_data: Any, load_best_model: bool = True, model_file: Any = None, show_progress: bool = False):
        if eval_data and load_best_model:
            _restore_best(self, model_file)  # (the parameter name shadows load_best_model here)
            self.logger.info(f"Loading model structure and parameters from {model_file or self.saved_model_file}")
        return original(self, eval_data, load_best_model=False, model_file=model_file, show_progress=show_progress)

    evaluate.__doc__ = original.__doc__
    return evaluate


def patch_recbole() -> None:
    """Apply every work-around once (safe to call again)."""
    global _PATCHED
    if _PATCHED:
        return
    import pandas as pd
    import scipy.sparse as sp
    from recbole.config import configurator
    from recbole.data.dataset import dataset as dataset_module
    from recbole.trainer import trainer as trainer_module

    install_numpy_aliases()

    ORIGINALS["Config.compatibility_settings"] = configurator.Config.compatibility_settings
    configurator.Config.compatibility_settings = _compatibility_settings

    ORIGINALS["Dataset._fill_nan"] = dataset_module.Dataset._fill_nan
    dataset_module.Dataset._fill_nan = _fill_nan
    ORIGINALS["Dataset._remap"] = dataset_module.Dataset._remap
    dataset_module.Dataset._remap = _remap
    ORIGINALS["dataset.pd"] = dataset_module.pd
    dataset_module.pd = _PandasWithSeqFill(pd)

    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = _dok_update
        ORIGINALS["dok_matrix._update"] = None  # there was none: that is the bug

    ORIGINALS["Trainer._save_checkpoint"] = trainer_module.Trainer._save_checkpoint
    trainer_module.Trainer._save_checkpoint = _save_checkpoint
    ORIGINALS["Trainer.evaluate"] = trainer_module.Trainer.evaluate
    trainer_module.Trainer.evaluate = _wrap_evaluate(trainer_module.Trainer.evaluate)
    _PATCHED = True


patch_recbole()
