"""What a data source is (:class:`Source`), the options every source takes, and the registry (``SOURCES``)
the adapters (``_hm``, ``_movielens``, ``_styles``, ``_table``, ``_literature``) register into when imported
and plugins through the ``recsys_cl.sources`` entry points. Preparing a source is ``_sources``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recsys_cl.data._protocols import DEFAULT_COLD_ITEM_SHARE, DEFAULT_SPLIT_SEED, DEFAULT_TEST_DAYS, DEFAULT_VALID_DAYS, PROTOCOLS
from recsys_cl.errors import validation_message
from recsys_cl.limits import Seed, plain_name
from recsys_cl.progress import StageProgress
from recsys_cl.registry import Registry


class SourceOptions(BaseModel):
    """What every source is told besides its paths: the dataset's name (its folder under ROOT)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # the name becomes a folder and a file prefix: no separators, no hidden or relative names
        return plain_name(value, "dataset name")


class InteractionOptions(SourceOptions):
    """Sources with users and interactions: which protocols to split by, and their options."""

    protocols: list[str] = Field(default_factory=lambda: ["loo"])
    test_days: int = Field(DEFAULT_TEST_DAYS, ge=1, description="temporal: last N days are test")
    valid_days: int = Field(DEFAULT_VALID_DAYS, ge=0, description="temporal: the N days before test are valid")
    cold_item_share: float = Field(DEFAULT_COLD_ITEM_SHARE, gt=0, lt=0.5,
                                   description="cold-item: share of items held out for test (and again for valid)")
    seed: Seed = Field(DEFAULT_SPLIT_SEED, description="seed for sampling and the cold-item split")
    #: whether the source's files can bring a split of their own (protocol ``given``)
    given_split: ClassVar[bool] = False

    @field_validator("protocols")
    @classmethod
    def _known_protocols(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one protocol is needed")
        unknown = [p for p in value if p not in PROTOCOLS]
        if unknown:
            raise ValueError(f"unknown protocol {unknown[0]!r}; expected some of {', '.join(PROTOCOLS)}")
        if "given" in value and not cls.given_split:
            raise ValueError("protocol 'given' keeps the split a source's files came with; this source brings "
                             "none (recbole with benchmark files and mmrec do)")  # fmt: skip
        return list(dict.fromkeys(value))

    def protocol_options(self) -> dict[str, dict[str, Any]]:
        return {
            "temporal": {"test_days": self.test_days, "valid_days": self.valid_days},
            "cold-item": {"test_share": self.cold_item_share, "valid_share": self.cold_item_share, "seed": self.seed},
        }


@dataclasses.dataclass(frozen=True)
class Source:
    """A registered data source."""

    name: str
    options: type[SourceOptions]
    build: Callable[[Path | None, Path, Any, StageProgress], dict[str, Any]]
    #: ``required``: a raw folder must be given; ``generated``: the raw folder is written by the source
    #: itself (synthetic data) and must be given; ``optional``: the source brings its own data unless given a folder
    raw: Literal["required", "generated", "optional"]
    #: False for sources without users (styles): only item embeddings and retrieval run on them
    has_interactions: bool
    description: str
    #: the files whose contents decide the dataset (raw folder, options) -> paths; hashed by ``input_fingerprint``
    inputs: Callable[[Path | None, Any], list[Path]] = lambda raw, options: []


def _source_problem(obj: Any) -> str | None:
    return None if isinstance(obj, Source) else f"is {obj!r}, not a recsys_cl.data.Source"


def _check_source_name(name: str, source: Source) -> None:
    if source.name != name:
        raise ValueError(f"the Source is named {source.name!r}; register it under that name")


def _load_builtin_sources() -> None:
    """The adapters register themselves when imported; the registry imports them once, on first use."""
    from recsys_cl.data import _hm, _literature, _movielens, _styles, _table  # noqa: F401


#: every data source a config can name: the built-in adapters and the ``recsys_cl.sources`` entry points
SOURCES: Registry[Source] = Registry(
    "data source", "recsys_cl.sources", accepts=_source_problem, on_register=_check_source_name,
    load_builtins=_load_builtin_sources,
)


def register_source(source: Source) -> Source:
    """Add a built-in source (plugins declare a ``recsys_cl.sources`` entry point instead)."""
    return SOURCES.register(source.name, source, module=getattr(source.build, "__module__", None))


def synth_options(config_class: type[BaseModel], defaults: Mapping[str, Any], synth: Mapping[str, Any]) -> dict[str, Any]:
    """A synthetic source's ``synth`` options: the generator's demo sizes overridden by ``synth``, validated
    by the generator's own config (a ValueError naming ``synth.<key>`` for the enclosing validator)."""
    try:
        return config_class.model_validate({**defaults, **synth}).model_dump()
    except ValidationError as exc:
        raise ValueError(f"synth.{validation_message(exc)}") from None
