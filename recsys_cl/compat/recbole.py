"""RecBole 1.2.1 on NumPy 2, pandas 3, SciPy >= 1.13 and torch >= 2.6, and every way this project
builds RecBole objects: :func:`make_config`, :func:`prepare_loaders`, :func:`make_trainer`,
:func:`load_best_model`. No ``mock.patch``; each override below is a named function or class.

:func:`patch_recbole` applies the version work-arounds once (the functions above call it; importing
this module does not, so config validation can read :data:`FILE_KEYS` without importing torch). Each
is the smallest change that restores RecBole's intended behaviour; none relaxes a check RecBole makes.
``ORIGINALS`` keeps what each replaced, so tests can show the unpatched failure. Each has a test in
``tests/compat/`` that fails without it.

1. NumPy 2 removed ``np.float``, ``np.int``, ``np.str``, ``np.object`` ... which RecBole's modules use
   at call time, and ``np.float_`` ..., which ``Config.compatibility_settings`` reads to re-create
   them (``AttributeError`` on every ``Config(...)``). The aliases are NOT put on NumPy: each RecBole
   module in :data:`NUMPY_ALIAS_MODULES` gets a proxy of NumPy with the aliases (RecBole's values,
   ``np.long`` = ``np.int_`` included) as its ``np`` global, and ``compatibility_settings`` installs
   those proxies instead of writing to NumPy. NumPy itself is untouched (``hasattr(numpy, "float")``
   stays False).
2. ``Dataset._fill_nan`` and ``Dataset._load_feat`` call ``df[col].fillna(..., inplace=True)``;
   under pandas 3 copy-on-write that writes into a temporary copy, so missing values silently stay
   NaN (float/token fields) or crash later (empty ``token_seq`` cells). Fixed by assignment (the
   method, and a pandas proxy as the dataset module's ``pd`` global for the read in ``_load_feat``).
3. ``Dataset._remap`` computes split points with ``Series.agg(len)``, which pandas 3 applies to the
   whole Series instead of to each element: loading any ``token_seq`` field (our ``text``) fails.
   Replaced by the same code with ``Series.map(len)``. (The same idiom in ``_normalize`` /
   ``_discretization`` of ``float_seq`` fields, the KG and the sequential datasets is not patched:
   it runs only with options and model families this project does not use.)
4. ``dok_matrix._update`` (private, removed in SciPy 1.13) is called by LightGCN, NGCF, NCL, GCMC,
   SpectralCF, KGIN and MCCLK to build their adjacency matrix. Not re-added to SciPy: each module in
   :data:`DOK_UPDATE_MODULES` gets a proxy of ``scipy.sparse`` as its ``sp`` global whose
   ``dok_matrix`` is a subclass with ``_update`` = SciPy's public, index-checked ``update``.
5. ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and RecBole's checkpoints
   pickle its whole ``Config`` object, so restoring the best model fails. We do NOT load with
   ``weights_only=False`` (arbitrary code execution on a crafted file); instead checkpoints are
   saved with plain data only (tensors, numbers, strings), which the safe loader accepts.
   Non-tensor "other parameters" (e.g. ItemKNN's SciPy similarity matrix) stay in memory on the
   trainer and are restored from there (``Trainer._save_checkpoint`` / ``Trainer.evaluate``).
6. ``recbole.model.sequential_recommender.sine`` calls ``torch.autograd.set_detect_anomaly(True)`` at
   import, and importing any sequential model by name (``Config(model="SASRec")`` through ``get_model``)
   imports it: from then on every torch operation of the process records a Python stack trace and every
   backward checks for NaN (SASRec on ml-100k loo, one thread, 2 cores at load ~2.4: 9.0-9.4 s an
   epoch with it, 4.8-6.3 s without).
   :func:`import_sequential_models` imports RecBole's sequential package once and puts the anomaly mode
   back as it was; later imports of it are no-ops, so the mode stays the caller's. (Left on, a NaN in
   any later model's loss would also raise inside autograd instead of reaching its divergence check.)

How this project builds RecBole objects (overrides that are not version fixes):

* :func:`make_config` builds a :class:`SandboxedConfig`: RecBole's ``Config`` that reads no
  command line (it would take the CLI's own ``--key=value`` options) and never ``eval``-s string
  values of the config dict (RecBole does, so a string parameter could run code), with the
  ``CUDA_VISIBLE_DEVICES`` that ``Config`` writes put back afterwards.
* :func:`prepare_loaders` is ``data_preparation`` built directly, with the caller's sampler and
  full-sort loader classes, and without ``load_split_dataloaders`` (it unpickles a file named by
  ``dataloaders_save_path``, or any file at the default name in ``checkpoint_dir``).
* :func:`make_trainer` builds RecBole's trainer for the model with per-epoch progress, the best
  epoch recorded, and no TensorBoard writer: ``recbole.trainer.trainer.get_tensorboard`` is
  replaced once by :func:`_tensorboard_writer`, which returns RecBole's writer (files under
  ``./log_tensorboard``) except while :func:`make_trainer` builds a trainer, when it returns
  :class:`NoTensorBoard` (a library must not write into the caller's working directory).

Pass-through keys (in ``recsys_cl.compat.recbole_keys``, re-exported here): :data:`FILE_KEYS` lists every
RecBole key that names a file or folder or makes RecBole load something with pickle / ``torch.load``;
:func:`check_passthrough_keys` refuses them and anything outside a model's own hyperparameters plus
:data:`SAFE_TRAINING_KEYS`.

Scope: NumPy, SciPy and pandas are never modified. What is replaced is RecBole's own: methods of its
``Config``, ``Dataset`` and ``Trainer`` classes and globals of its modules (``np``, ``sp``, ``pd``,
``get_tensorboard``), once per process, so RecBole code run by anyone in the process gets the same
fixes (e.g. ``tests/compat`` runs RecBole's own ``create_dataset``). Scoping those further (a subclass
per use) would leave RecBole's own entry points broken on this stack.

``recbole.quick_start`` must never be imported: it imports ray <= 2.6.3, which breaks on NumPy 2.
Build Config / dataset / model / Trainer through the functions here instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import importlib
import os
import types
import warnings
from typing import Any, Callable, Iterator

import numpy as np

# the pass-through allow-list moved to its own module; its names stay importable from here
from recsys_cl.compat.recbole_keys import (  # noqa: F401
    FILE_KEYS,
    SAFE_TRAINING_KEYS,
    check_passthrough_keys,
    model_hyperparameters,
)
from recsys_cl.errors import InputError
from recsys_cl.progress import StepProgress

#: ``"what"`` -> the RecBole / module attribute a work-around replaced (for tests and debugging).
ORIGINALS: dict[str, Any] = {}
_PATCHED = False

# -- 1. NumPy aliases, scoped to RecBole's modules --------------------------------------------------
# Meant as when RecBole was written (np.float_ == float64, np.unicode_ == str_), from NumPy-2 names.
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
#: RecBole modules that use a NumPy alias removed in NumPy 2 (``tests/compat`` greps RecBole's
#: source to keep this list complete).
NUMPY_ALIAS_MODULES = (
    "recbole.data.interaction",
    "recbole.data.dataset.dataset",
    "recbole.evaluator.metrics",
    "recbole.model.abstract_recommender",
    "recbole.model.layers",
    "recbole.model.context_aware_recommender.ffm",
    "recbole.trainer.hyper_tuning",
)
#: RecBole modules that call ``dok_matrix._update`` (removed in SciPy 1.13).
DOK_UPDATE_MODULES = (
    "recbole.model.general_recommender.gcmc",
    "recbole.model.general_recommender.lightgcn",
    "recbole.model.general_recommender.ncl",
    "recbole.model.general_recommender.ngcf",
    "recbole.model.general_recommender.spectralcf",
    "recbole.model.knowledge_aware_recommender.kgin",
    "recbole.model.knowledge_aware_recommender.mcclk",
)


class _ModuleProxy(types.ModuleType):
    """A module that answers every attribute from ``wrapped`` except those set on the proxy itself."""

    def __init__(self, wrapped: types.ModuleType) -> None:
        super().__init__(wrapped.__name__)
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class NumpyWithAliases(_ModuleProxy):
    """NumPy plus the aliases NumPy 2 removed, for the ``np`` global of RecBole's modules only."""

    def __init__(self, numpy_module: types.ModuleType) -> None:
        super().__init__(numpy_module)
        for name, value in _NUMPY_ALIASES.items():
            setattr(self, name, value)


def _compatibility_settings(self: Any) -> None:
    """RecBole's ``Config.compatibility_settings`` (which writes ``np.float`` ... onto NumPy from names
    NumPy 2 removed), made to install the aliases on RecBole's modules only."""
    install_numpy_aliases()


def install_numpy_aliases() -> None:
    """Give every module of :data:`NUMPY_ALIAS_MODULES` the removed aliases (NumPy itself unchanged)."""
    for name in NUMPY_ALIAS_MODULES:
        module = importlib.import_module(name)
        if not isinstance(module.np, NumpyWithAliases):
            ORIGINALS[f"{name}.np"] = module.np
            module.np = NumpyWithAliases(module.np)


# -- 2, 3. pandas 3 ---------------------------------------------------------------------------------
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


class _PandasWithSeqFill(_ModuleProxy):
    """pandas, except that ``read_csv`` fills missing ``*_seq`` cells with "" by assignment.

    Installed as the ``pd`` global of ``recbole.data.dataset.dataset`` only: ``_load_feat`` reads a
    file then does ``df[field].fillna(value="", inplace=True)`` on sequence columns, a no-op under
    copy-on-write, after which ``nan.split`` crashes. Filling right after the read is exactly what
    the in-place call meant to do; copying the 90-line ``_load_feat`` to change one line is not.
    """

    def read_csv(self, *args: Any, **kwargs: Any) -> Any:
        frame = self._wrapped.read_csv(*args, **kwargs)
        for column in frame.columns:
            # columns are still "name:type" here (RecBole renames them after the read)
            if isinstance(column, str) and column.endswith("seq"):
                frame[column] = frame[column].fillna(value="")
        return frame


# -- 4. SciPy >= 1.13: dok_matrix._update ---------------------------------------------------------
def _sparse_with_dok_update(sparse_module: types.ModuleType) -> _ModuleProxy:
    """``scipy.sparse`` whose ``dok_matrix`` has SciPy < 1.13's private ``_update``, as a proxy module."""

    class DokMatrix(sparse_module.dok_matrix):  # type: ignore[name-defined, misc]
        """SciPy's ``dok_matrix`` with ``_update`` = the public, index-checked ``update``."""

        def _update(self, data: dict) -> None:
            self.update(data)

    DokMatrix.__name__ = DokMatrix.__qualname__ = "dok_matrix"
    proxy = _ModuleProxy(sparse_module)
    proxy.dok_matrix = DokMatrix
    return proxy


def _install_dok_update() -> None:
    for name in DOK_UPDATE_MODULES:
        module = importlib.import_module(name)
        if isinstance(module.sp, _ModuleProxy):
            continue
        ORIGINALS[f"{name}.sp"] = module.sp
        module.sp = _sparse_with_dok_update(module.sp)


# -- 5. torch >= 2.6: weights-only checkpoints ----------------------------------------------------
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


# -- 6. SINE's global anomaly detection ---------------------------------------------------------------
def import_sequential_models() -> types.ModuleType:
    """``recbole.model.sequential_recommender``, imported without leaving autograd anomaly detection on
    (its SINE module turns it on for the whole process at import)."""
    import torch

    before = torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()
    module = importlib.import_module("recbole.model.sequential_recommender")
    torch.autograd.set_detect_anomaly(*before)
    return module


# -- TensorBoard -------------------------------------------------------------------------------------
class NoTensorBoard:
    """Stands in for TensorBoard's ``SummaryWriter`` in trainers built by :func:`make_trainer`: every
    method (``add_scalar``, ``add_hparams``, ``close`` ...) does nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


_WITHOUT_TENSORBOARD: contextvars.ContextVar[bool] = contextvars.ContextVar("recsys_cl_without_tensorboard", default=False)


def _tensorboard_writer(logger: Any) -> Any:
    """RecBole's ``get_tensorboard`` (a ``SummaryWriter`` under ``./log_tensorboard``), or a
    :class:`NoTensorBoard` while :func:`make_trainer` builds a trainer."""
    if _WITHOUT_TENSORBOARD.get():
        return NoTensorBoard()
    return ORIGINALS["trainer.get_tensorboard"](logger)


def patch_recbole() -> None:
    """Apply every work-around once (safe to call again)."""
    global _PATCHED
    if _PATCHED:
        return
    import pandas as pd
    from recbole.config import configurator
    from recbole.data.dataset import dataset as dataset_module
    from recbole.trainer import trainer as trainer_module

    install_numpy_aliases()
    import_sequential_models()
    ORIGINALS["Config.compatibility_settings"] = configurator.Config.compatibility_settings
    configurator.Config.compatibility_settings = _compatibility_settings

    ORIGINALS["Dataset._fill_nan"] = dataset_module.Dataset._fill_nan
    dataset_module.Dataset._fill_nan = _fill_nan
    ORIGINALS["Dataset._remap"] = dataset_module.Dataset._remap
    dataset_module.Dataset._remap = _remap
    ORIGINALS["dataset.pd"] = dataset_module.pd
    dataset_module.pd = _PandasWithSeqFill(pd)

    _install_dok_update()

    ORIGINALS["Trainer._save_checkpoint"] = trainer_module.Trainer._save_checkpoint
    trainer_module.Trainer._save_checkpoint = _save_checkpoint
    ORIGINALS["Trainer.evaluate"] = trainer_module.Trainer.evaluate
    trainer_module.Trainer.evaluate = _wrap_evaluate(trainer_module.Trainer.evaluate)
    ORIGINALS["trainer.get_tensorboard"] = trainer_module.get_tensorboard
    trainer_module.get_tensorboard = _tensorboard_writer
    _PATCHED = True


# -- building RecBole objects -----------------------------------------------------------------------
def _sandboxed_config_class() -> type:
    """:class:`SandboxedConfig`, defined on first use (RecBole imports torch) as a module attribute, so
    that a pickled Config (RecBole's own checkpoints hold one) finds its class again."""
    if "SandboxedConfig" in globals():
        return globals()["SandboxedConfig"]
    from recbole.config import Config

    class SandboxedConfig(Config):
        """RecBole's ``Config`` from its own YAML defaults and the given dict only.

        RecBole reads ``sys.argv`` for ``--key=value`` overrides (a CLI's own options would leak in)
        and ``eval``-s every string value of the config dict (so ``"__import__('os')..."`` as a
        parameter, or in ``valid_metric``, would run): here the values are used as given, already
        typed by our pydantic configs.
        """

        def _load_cmd_line(self) -> dict:
            return {}

        def _load_variable_config_dict(self, config_dict: dict | None) -> dict:
            return dict(config_dict or {})

    SandboxedConfig.__module__, SandboxedConfig.__qualname__ = __name__, "SandboxedConfig"
    globals()["SandboxedConfig"] = SandboxedConfig
    return SandboxedConfig


@contextlib.contextmanager
def _keep_cuda_visible_devices() -> Iterator[None]:
    """``Config._init_device`` writes ``CUDA_VISIBLE_DEVICES`` from ``gpu_id`` for the whole process;
    put the caller's value back (copying its 40-line device setup to drop one line is worse)."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def make_config(model: str | type, settings: dict[str, Any], device: str = "cpu", *, dataset: str = "recsys_cl") -> Any:
    """RecBole's ``Config`` for ``model`` (a name or a RecBole model class) from ``settings`` only.

    ``device`` (auto, cpu, cuda) sets ``gpu_id`` / ``use_gpu``. No command line, no ``eval`` of string
    values, ``CUDA_VISIBLE_DEVICES`` unchanged (see :class:`SandboxedConfig`). RecBole's own errors
    (unknown model, bad option) become one-line :class:`InputError`.
    """
    from recsys_cl.device import resolve_device

    patch_recbole()
    use_cuda = resolve_device(device) == "cuda"
    # a copy: RecBole fills in nested dicts (train_neg_sample_args) in place, which would change the caller's config
    values = copy.deepcopy({**settings, "gpu_id": "0" if use_cuda else "", "use_gpu": use_cuda})
    name = model if isinstance(model, str) else model.__name__
    with _keep_cuda_visible_devices():
        try:
            return _sandboxed_config_class()(model=model, dataset=dataset, config_dict=values)
        except (ValueError, KeyError, AttributeError) as exc:
            raise InputError(f"RecBole model {name!r}: {str(exc).splitlines()[0]}") from exc


def prepare_loaders(config: Any, dataset: Any, *, sampler_class: type | None = None,
                    full_sort_loader_class: type | None = None) -> tuple[Any, Any, Any]:
    """Train / valid / test loaders of ``dataset``, built as RecBole's ``data_preparation`` builds them.

    ``sampler_class`` replaces RecBole's ``Sampler`` (the non-repeatable one general models use) and
    ``full_sort_loader_class`` its ``FullSortEvalDataLoader`` (defaults: RecBole's own). Unlike
    ``data_preparation`` this never looks for saved loaders (``load_split_dataloaders`` unpickles
    whatever file it finds at ``dataloaders_save_path`` or in ``checkpoint_dir``) and never saves any.
    """
    from recbole.data import utils as data_utils
    from recbole.data.dataloader import FullSortEvalDataLoader
    from recbole.sampler import KGSampler, RepeatableSampler, Sampler
    from recbole.utils import ModelType

    patch_recbole()
    sampler_class = sampler_class or Sampler
    full_sort_loader_class = full_sort_loader_class or FullSortEvalDataLoader
    built = dataset.build()
    phases = ["train", "valid", "test"]

    def create_sampler(distribution: str, alpha: float = 1.0, base: Any = None) -> Any:
        # data_utils._create_sampler, with ``sampler_class`` for ``Sampler``
        if distribution == "none":
            return None
        if base is not None:
            base.set_distribution(distribution)
            return base
        if config["repeatable"]:
            return RepeatableSampler(phases, dataset, distribution, alpha)
        return sampler_class(phases, built, distribution, alpha)

    # data_utils.create_samplers: valid / test reuse the train sampler, each copied per phase
    train_args = config["train_neg_sample_args"]
    base = create_sampler(train_args["distribution"], train_args["alpha"])
    samplers = [base.set_phase("train") if base else None]
    for phase in ("valid", "test"):
        sampler = create_sampler(config[f"{phase}_neg_sample_args"]["distribution"], base=base)
        samplers.append(sampler.set_phase(phase) if sampler else None)

    loaders = []
    for phase, part, sampler in zip(phases, built, samplers):
        loader_class = data_utils.get_dataloader(config, phase)
        if loader_class is FullSortEvalDataLoader:
            loader_class = full_sort_loader_class
        if phase != "train":
            loaders.append(loader_class(config, part, sampler, shuffle=False))
        elif config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
            kg_sampler = KGSampler(dataset, train_args["distribution"], train_args["alpha"])
            loaders.append(loader_class(config, part, sampler, kg_sampler, shuffle=True))
        else:
            loaders.append(loader_class(config, part, sampler, shuffle=config["shuffle"]))
    return loaders[0], loaders[1], loaders[2]


def make_trainer(config: Any, model: Any, *, progress: StepProgress | None = None) -> Any:
    """RecBole's trainer for ``model`` (the one ``get_trainer`` picks, e.g. NCL's with its E-steps).

    Added: ``progress(epoch, epochs)`` after each training epoch; ``best_epoch`` (0-based, as RecBole
    counts) set whenever a checkpoint is saved, which RecBole does exactly when the valid metric
    improves (every epoch without valid data). No TensorBoard writer (see :func:`_tensorboard_writer`).
    Per-epoch losses are RecBole's ``train_loss_dict``; pass ``callback_fn`` to ``fit`` for valid scores.
    """
    from recbole.utils import get_trainer

    patch_recbole()
    base = get_trainer(config["MODEL_TYPE"], config["model"])
    epochs = config["epochs"]

    class HookedTrainer(base):  # type: ignore[misc, valid-type]
        best_epoch: int | None = None

        def _save_checkpoint(self, epoch: int, *args: Any, **kwargs: Any) -> None:
            self.best_epoch = epoch
            super()._save_checkpoint(epoch, *args, **kwargs)

        def _train_epoch(self, train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            with warnings.catch_warnings():
                # RecBole 1.2.1 builds torch.cuda.amp.GradScaler each epoch: a deprecation only RecBole can fix
                warnings.filterwarnings("ignore", message=r"`torch\.cuda\.amp\.GradScaler", category=FutureWarning)
                loss = super()._train_epoch(train_data, epoch_idx, *args, **kwargs)
            if progress is not None:
                progress(epoch_idx + 1, epochs)
            return loss

    HookedTrainer.__name__ = HookedTrainer.__qualname__ = base.__name__
    token = _WITHOUT_TENSORBOARD.set(True)
    try:
        return HookedTrainer(config, model)
    finally:
        _WITHOUT_TENSORBOARD.reset(token)
