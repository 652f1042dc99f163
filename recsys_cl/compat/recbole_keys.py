"""Which RecBole config keys a user's pass-through ``params`` may set (``recsys_cl.models.recbole._config``
validates the generic ``recbole`` backend's params with :func:`check_passthrough_keys`).

RecBole's keys come from its own ``properties`` YAML files, read without importing RecBole (and torch), so a
benchmark config is validated before any heavy import. Split out of ``recsys_cl.compat.recbole`` (which
re-exports these names): the version work-arounds and object builders live there, the allow-list here.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from recsys_cl.errors import shown

# -- pass-through keys ------------------------------------------------------------------------------
#: RecBole keys that name a file or folder, or make RecBole read or write one (``pickle.load`` of a
#: saved dataset / loaders, ``torch.load`` of pretrained weights, extra atomic files by suffix): never
#: from a user's config. From ``recbole/properties`` (overall.yaml and model/*.yaml) and the code
#: that reads them.
FILE_KEYS = frozenset({
    # overall.yaml
    "data_path", "checkpoint_dir", "save_dataset", "dataset_save_path", "save_dataloaders", "dataloaders_save_path",
    # dataset.yaml: which atomic files are read
    "benchmark_filename", "additional_feat_suffix",
    # model/*.yaml: pretrained weights (torch.load), pre-training stages that save / load them, a stored model
    "pre_model_path", "pretrain_path", "mf_pretrain_path", "mlp_pretrain_path", "use_pretrain", "warm_up",
    "train_stage", "xgb_model",
})
#: Training keys a pass-through may set besides a model's own hyperparameters: optimiser and loss
#: settings only (no data, split, evaluation-protocol or file keys; our top-level keys set the rest).
SAFE_TRAINING_KEYS = frozenset({
    "learner", "weight_decay", "clip_grad_norm", "train_neg_sample_args", "require_pow",
    "loss_decimal_place", "metric_decimal_place", "valid_metric_bigger",
})


def _properties_dir() -> Path | None:
    """``recbole/properties`` without importing RecBole (and torch) at config-validation time."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "properties"


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """PyYAML's safe loader reading ``1e-4`` as a float, as RecBole's ``Config._build_yaml_loader`` does
    (plain YAML 1.1 wants a dot in a float and would read RecBole's defaults as strings)."""
    import re

    import yaml

    class FloatLoader(yaml.SafeLoader):
        pass

    FloatLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""", re.VERBOSE),
        list("-+0123456789."),
    )
    return FloatLoader


def _defaults(relative: str) -> dict[str, Any] | None:
    """The keys and default values of one of RecBole's ``properties`` YAML files (None: no such file)."""
    import yaml

    directory = _properties_dir()
    path = None if directory is None else directory / relative
    if path is None or not path.is_file():
        return None
    return dict(yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader()) or {})


def model_hyperparameters(model: str) -> dict[str, Any] | None:
    """RecBole's ``properties/model/<model>.yaml``: hyperparameter -> default (None: no such model file)."""
    return _defaults(f"model/{model}.yaml") if model.isidentifier() else None


def _same_kind(value: Any, default: Any) -> bool:
    """``value`` has the type RecBole's ``default`` has (any number for a number; anything for a None default)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_passthrough_keys(model: str, params: dict[str, Any], exclude: Any = ()) -> dict[str, str]:
    """``{key: why}`` for every entry of a pass-through ``params`` dict that RecBole must not be given:
    :data:`FILE_KEYS`; keys that are neither a hyperparameter of ``model`` nor in
    :data:`SAFE_TRAINING_KEYS` (``exclude``: keys the caller sets itself); values whose type is not that
    of RecBole's default (a string where RecBole computes with a number fails deep inside training)."""
    defaults = {key: value for key, value in (_defaults("overall.yaml") or {}).items() if key in SAFE_TRAINING_KEYS}
    defaults.update(model_hyperparameters(model) or {})
    allowed = set(defaults) - FILE_KEYS - set(exclude)
    refused = {}
    for key, value in params.items():
        if key in FILE_KEYS:
            refused[key] = "RecBole reads or writes files with it (pickle / torch.load); not allowed in params"
        elif key not in allowed:
            refused[key] = f"not a hyperparameter of RecBole's {model} nor an allowed training key (allowed: {', '.join(sorted(allowed))})"
        elif not _same_kind(value, defaults[key]):
            refused[key] = f"expects a {type(defaults[key]).__name__} like RecBole's default {defaults[key]!r} (got {shown(value)})"
    return refused
