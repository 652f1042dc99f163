"""Hyperparameter search spaces: the ``search:`` entries of a benchmark YAML, and every model's default.

A space maps parameter names of a model's config to a :class:`ParamSpace`. :data:`DEFAULT_SPACES` is
the one table of defaults (the docs' models reference is generated from it), keyed by registry name; each entry has the space of
the plain model and, under ``content``, the knobs only a run with item embeddings has (they are added
when an embedding is given and the model's config accepts them with its other parameters, e.g.
``id_dropout`` only with ``content: fuse``). The neighbourhood and linear baselines (ItemKNN, RP3beta, EASE,
SLIM) are searched over the ranges of Dacrema et al. (RecSys 2019), narrowed where noted. Pop and Random have
nothing to tune (an empty space: one trial).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from recsys_cl.errors import InputError, validation_location

#: parameters that decide how a run is carried out or reported, never what is learned: not searchable
NOT_SEARCHABLE = frozenset({"seed", "device", "num_threads", "validate_every", "valid_metric", "valid_users", "eval_batch_size"})


class ParamSpace(BaseModel):
    """One searched parameter: ``int`` / ``float`` in [low, high] (optional ``step``), ``log_float`` in
    [low, high] on a log scale (low > 0), or ``categorical`` over ``choices`` (numbers, strings, booleans, null)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    type: Literal["int", "float", "log_float", "categorical"]
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    choices: list[bool | int | float | str | None] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> "ParamSpace":
        if self.type == "categorical":
            if self.low is not None or self.high is not None or self.step is not None:
                raise ValueError("categorical takes choices, not low / high / step")
            if not self.choices:
                raise ValueError("choices: must not be empty")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError("choices: listed twice")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low / high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs low and high")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ValueError(f"{name}: int needs a whole number (got {value!r})")
        if self.low > self.high:
            raise ValueError(f"low: {self.low} is above high {self.high}")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step: must be positive (got {self.step})")
        if self.type == "log_float":
            if self.low <= 0:
                raise ValueError(f"low: log_float needs low > 0 (got {self.low})")
            if self.step is not None:
                raise ValueError("step: log_float takes no step")
        return self

    def endpoints(self) -> dict[str, Any]:
        """The values a model's config must accept for the space to be usable, by the key naming them."""
        if self.type == "categorical":
            assert self.choices is not None
            return {f"choices.{i}": choice for i, choice in enumerate(self.choices)}
        low, high = (float(self.low), float(self.high)) if self.type != "int" else (self.low, self.high)  # type: ignore[arg-type]
        return {"low": low, "high": high}

    def describe(self) -> str:
        """Short form for tables: ``16..256 step 16``, ``log 0.0001..1``, ``{32, 64, 128}``."""
        if self.type == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices or []) + "}"
        text = f"{'log ' if self.type == 'log_float' else ''}{self.low:g}..{self.high:g}"
        return f"{text} step {self.step:g}" if self.step is not None else text

    def grid(self) -> list[Any] | None:
        """Every value of a discrete space (for the grid sampler); None for a continuous one."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))  # type: ignore[arg-type]
        if self.type == "float" and self.step is not None:
            n = int(round((float(self.high) - float(self.low)) / float(self.step)))  # type: ignore[arg-type]
            return [float(self.low) + i * float(self.step) for i in range(n + 1)]  # type: ignore[arg-type]
        return None


def _space(**entries: dict[str, Any]) -> dict[str, ParamSpace]:
    return {name: ParamSpace(**values) for name, values in entries.items()}


@dataclasses.dataclass(frozen=True)
class DefaultSpace:
    """A model's default search: ``space`` always, ``content`` added for runs with item embeddings;
    ``validate_every``: how often its per-epoch validation runs while tuning (None: it does not validate
    itself, or validates on its own schedule, as RecBole's trainer does every epoch)."""

    space: dict[str, ParamSpace]
    content: dict[str, ParamSpace] = dataclasses.field(default_factory=dict)
    validate_every: int | None = None


_LEARNING_RATE = {"type": "log_float", "low": 1e-4, "high": 1e-1}
_EMBEDDING_SIZE = {"type": "categorical", "choices": [32, 64, 128]}
_REG_WEIGHT = {"type": "log_float", "low": 1e-6, "high": 1e-2}
_ID_DROPOUT = {"type": "float", "low": 0.0, "high": 0.8}
_SEQUENCE_DROPOUT = {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}
_GRAPH = {"learning_rate": _LEARNING_RATE, "embedding_size": _EMBEDDING_SIZE, "n_layers": {"type": "int", "low": 1, "high": 4},
          "reg_weight": _REG_WEIGHT}  # fmt: skip

#: registry name -> default search (one table; docs/_scripts/reference.py renders it beside each model's parameters)
DEFAULT_SPACES: dict[str, DefaultSpace] = {
    "random": DefaultSpace({}),
    "pop": DefaultSpace({}),
    "recent-pop": DefaultSpace(_space(days={"type": "int", "low": 1, "high": 28})),
    # Dacrema et al.'s ranges (topK 5..1000, shrink 0..1000, their similarities and weightings); asymmetric_alpha
    # is read only by asymmetric-cosine (their 0..2 cut to 0..1, where it interpolates between the two norms)
    "itemknn": DefaultSpace(
        _space(
            neighbours={"type": "int", "low": 10, "high": 1000, "step": 10},
            similarity={"type": "categorical", "choices": ["cosine", "asymmetric-cosine", "jaccard"]},
            shrink={"type": "float", "low": 0.0, "high": 1000.0},
            weighting={"type": "categorical", "choices": ["none", "tf-idf", "bm25"]},
            keep_neighbours_of={"type": "categorical", "choices": ["source", "target"]},
            asymmetric_alpha={"type": "float", "low": 0.0, "high": 1.0},
        )
    ),
    "rp3beta": DefaultSpace(
        _space(
            neighbours={"type": "int", "low": 10, "high": 1000, "step": 10},
            alpha={"type": "float", "low": 0.0, "high": 2.0},
            beta={"type": "float", "low": 0.0, "high": 2.0},
            normalize={"type": "categorical", "choices": [False, True]},
        )
    ),
    # Dacrema et al.: l2_norm log 1..1e7; above 1e5 every ml-100k weight is ~0 (the model degenerates to Pop)
    "ease": DefaultSpace(_space(reg={"type": "log_float", "low": 1.0, "high": 1e5})),
    "slim": DefaultSpace(
        _space(
            alpha={"type": "log_float", "low": 1e-4, "high": 1.0},
            l1_ratio={"type": "log_float", "low": 1e-5, "high": 1.0},
            neighbours={"type": "int", "low": 10, "high": 1000, "step": 10},
        )
    ),
    "content-knn": DefaultSpace(_space(half_life_days={"type": "log_float", "low": 1.0, "high": 365.0})),
    # Validation intervals: on ml-100k loo (2 shared cores, load ~12) one validation (rank the 943 valid
    # users, score) cost 0.7 ALS sweep, 2.2 BPR epochs, 0.9 LightFM epoch; these intervals add 11-19% to
    # a full fit, and every trial the pruner stops at its first check saves most of one.
    "implicit-als": DefaultSpace(
        _space(
            factors={"type": "int", "low": 16, "high": 256, "step": 16},
            reg={"type": "log_float", "low": 1e-4, "high": 1.0},
            alpha={"type": "log_float", "low": 0.1, "high": 50.0},
            epochs={"type": "int", "low": 5, "high": 50, "step": 5},
        ),
        validate_every=5,
    ),
    "implicit-bpr": DefaultSpace(
        _space(
            learning_rate={"type": "log_float", "low": 1e-3, "high": 0.1},
            reg={"type": "log_float", "low": 1e-5, "high": 0.1},
            factors={"type": "int", "low": 16, "high": 256, "step": 16},
        ),
        validate_every=20,
    ),
    "lightfm": DefaultSpace(
        _space(
            learning_rate={"type": "log_float", "low": 0.005, "high": 0.2},
            reg={"type": "log_float", "low": 1e-7, "high": 1e-3},
            no_components={"type": "int", "low": 16, "high": 256, "step": 16},
        ),
        content=_space(embedding_components={"type": "int", "low": 8, "high": 128, "step": 8}),
        validate_every=5,
    ),
    "recbole": DefaultSpace(_space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE)),
    "bpr-recbole": DefaultSpace(_space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE), content=_space(id_dropout=_ID_DROPOUT)),
    "neumf": DefaultSpace(
        _space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE, dropout_prob={"type": "float", "low": 0.0, "high": 0.5}),
        content=_space(id_dropout=_ID_DROPOUT),
    ),
    "lightgcn": DefaultSpace(_space(**_GRAPH), content=_space(id_dropout=_ID_DROPOUT)),
    "sgl": DefaultSpace(
        _space(**_GRAPH, ssl_weight={"type": "log_float", "low": 1e-3, "high": 1.0}, ssl_tau={"type": "float", "low": 0.1, "high": 1.0}),
        content=_space(id_dropout=_ID_DROPOUT),
    ),
    "ncl": DefaultSpace(
        _space(**_GRAPH, ssl_temp={"type": "float", "low": 0.05, "high": 0.5}, proto_reg={"type": "log_float", "low": 1e-9, "high": 1e-6})
    ),
    "simplex": DefaultSpace(
        _space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE, margin={"type": "float", "low": 0.0, "high": 0.9, "step": 0.1},
               negative_weight={"type": "log_float", "low": 1.0, "high": 100.0})
    ),
    # sequential models (models/recbole/_sequential.py); id_dropout applies to content=fuse only
    "sasrec": DefaultSpace(
        _space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE, n_layers={"type": "int", "low": 1, "high": 3},
               hidden_dropout_prob=_SEQUENCE_DROPOUT, attn_dropout_prob=_SEQUENCE_DROPOUT),
        content=_space(id_dropout=_ID_DROPOUT),
    ),
    "gru4rec": DefaultSpace(
        _space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE, hidden_size={"type": "categorical", "choices": [64, 128, 256]},
               dropout_prob=_SEQUENCE_DROPOUT),
        content=_space(id_dropout=_ID_DROPOUT),
    ),
    "core": DefaultSpace(
        _space(learning_rate=_LEARNING_RATE, embedding_size=_EMBEDDING_SIZE, temperature={"type": "log_float", "low": 0.02, "high": 0.5},
               sess_dropout=_SEQUENCE_DROPOUT, item_dropout=_SEQUENCE_DROPOUT),
        content=_space(id_dropout=_ID_DROPOUT),
    ),
    # content-aware PyTorch models (models/_vbpr.py, _freedom.py, _bm3.py): they always take item content
    "vbpr": DefaultSpace(
        _space(learning_rate={"type": "log_float", "low": 5e-4, "high": 0.05}, reg_weight={"type": "log_float", "low": 1e-6, "high": 1e-2},
               embedding_size=_EMBEDDING_SIZE, content_embedding_size=_EMBEDDING_SIZE)
    ),
    "freedom": DefaultSpace(
        _space(learning_rate={"type": "log_float", "low": 1e-3, "high": 0.05}, reg_weight={"type": "log_float", "low": 1e-6, "high": 1e-2},
               knn_k={"type": "int", "low": 5, "high": 30, "step": 5}, prune_ratio={"type": "float", "low": 0.0, "high": 0.9, "step": 0.1})
    ),
    # the authors tune n_layers {1, 2}, dropout {0.3, 0.5} and reg_weight {0.1, 0.01} (their BM3.yaml)
    "bm3": DefaultSpace(
        _space(learning_rate={"type": "log_float", "low": 1e-4, "high": 0.01}, dropout={"type": "float", "low": 0.1, "high": 0.5, "step": 0.1},
               cl_weight={"type": "log_float", "low": 0.1, "high": 5.0}, n_layers={"type": "int", "low": 1, "high": 3},
               reg_weight={"type": "log_float", "low": 1e-3, "high": 1.0})
    ),
    # fashion baselines (models/_fashion.py): their windows and decays
    "decayed-pop": DefaultSpace(_space(half_life_days={"type": "log_float", "low": 1.0, "high": 60.0})),
    "repurchase": DefaultSpace(
        _space(order={"type": "categorical", "choices": ["recency", "frequency"]}, fill_days={"type": "int", "low": 1, "high": 28})
    ),
    "segment-pop": DefaultSpace(_space(days={"type": "int", "low": 1, "high": 56}, fill_days={"type": "int", "low": 1, "high": 28})),
    "product-variants": DefaultSpace(_space(fill_days={"type": "int", "low": 1, "high": 28})),
    "bought-together": DefaultSpace(
        _space(
            window_days={"type": "int", "low": 0, "high": 28},
            recent_days={"type": "int", "low": 1, "high": 28},
            neighbours={"type": "int", "low": 5, "high": 100, "step": 5},
        )
    ),
    # two-stage (models/_two_stage.py): the ranker's capacity and step, and how deep each generator's list goes
    "two-stage": DefaultSpace(
        _space(
            learning_rate={"type": "log_float", "low": 0.01, "high": 0.3},
            num_leaves={"type": "int", "low": 7, "high": 127},
            min_data_in_leaf={"type": "int", "low": 5, "high": 200},
            candidates_per_generator={"type": "int", "low": 10, "high": 50, "step": 10},
        )
    ),
}


def default_space(model: str, params: Mapping[str, Any], with_embedding: bool) -> dict[str, ParamSpace]:
    """The default space of registry model ``model`` run with fixed ``params``: its table entry's space,
    plus its content knobs when it runs with an item embedding and its config accepts them beside ``params``.
    A model missing from the table (registered after it was written) has an empty space."""
    from recsys_cl.models._base import MODELS

    entry = DEFAULT_SPACES.get(model, DefaultSpace({}))
    space = dict(entry.space)
    if with_embedding:
        config = MODELS.get(model).Config
        for name, spec in entry.content.items():
            if all(_rejection(config, params, name, value) is None for value in spec.endpoints().values()):
                space[name] = spec
    return space


def resolve_space(
    model: str,
    params: Mapping[str, Any],
    search: Mapping[str, ParamSpace] | None,
    with_embedding: bool,
    where: str = "",
    key_prefix: str = "search.",
) -> dict[str, ParamSpace]:
    """The space to search for ``model`` with fixed ``params``: ``search`` as given (checked) or, when it
    is None, the default. Errors name ``where`` and the key, e.g. ``bench.yaml: models.3.search.reg.low: ...``."""
    from recsys_cl.models._base import MODELS

    try:
        config = MODELS.get(model).Config
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    if search is None:
        return default_space(model, params, with_embedding)
    for name, spec in search.items():
        key = f"{key_prefix}{name}"
        if name not in config.model_fields:
            raise InputError(f"{where}: {key}: {model} has no parameter {name!r}; it has {', '.join(_searchable(config))}")
        if name in NOT_SEARCHABLE:
            raise InputError(f"{where}: {key}: {name} is not a hyperparameter (it decides how a run is carried out); "
                             f"searchable: {', '.join(_searchable(config))}")  # fmt: skip
        for bound, value in spec.endpoints().items():
            message = _rejection(config, params, name, value)
            if message is not None:
                raise InputError(f"{where}: {key}.{bound}: {message} (got {value!r})")
    return dict(search)


def check_grid(space: Mapping[str, ParamSpace], where: str = "", key_prefix: str = "search.") -> dict[str, list[Any]]:
    """The grid sampler's search space; a continuous parameter (no step, or log scale) is an error."""
    grid = {}
    for name, spec in space.items():
        values = spec.grid()
        if values is None:
            raise InputError(f"{where}: {key_prefix}{name}: the grid sampler needs discrete values; give it a step or choices")
        grid[name] = values
    return grid


def _searchable(config: type[BaseModel]) -> list[str]:
    return [name for name in config.model_fields if name not in NOT_SEARCHABLE]


def _rejection(config: type[BaseModel], params: Mapping[str, Any], name: str, value: Any) -> str | None:
    """Why ``config`` rejects ``params`` with ``name`` set to ``value`` (None if it accepts them)."""
    try:
        config.model_validate({**params, name: value})
    except ValidationError as exc:
        key, message = validation_location(exc)
        return message if key in ("", name) else f"{key}: {message}"
    return None

