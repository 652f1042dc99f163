"""The grid of a benchmark: one cell per dataset x protocol x model x embedding variant x seed.

A cell's key is a hash of everything that decides its result (dataset spec and source
fingerprint, protocol and its options, embedding spec, model and parameters, seed, metrics,
code version), so a re-run redoes exactly the cells whose inputs changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Iterator

from recsys_cl import __version__
from recsys_cl.bench._config import (
    NO_EMBEDDING,
    BenchmarkConfig,
    DatasetSpec,
    EmbeddingSpec,
    ModelSpec,
)


@dataclasses.dataclass(frozen=True)
class Cell:
    dataset: DatasetSpec
    protocol: str
    model: ModelSpec
    embedding: EmbeddingSpec | None
    seed: int

    @property
    def embedding_name(self) -> str:
        return self.embedding.name if self.embedding else NO_EMBEDDING

    @property
    def model_label(self) -> str:
        return self.model.label or model_run_name(self.model)

    def describe(self) -> str:
        return f"{self.dataset.name}/{self.protocol}/{self.model_label}+{self.embedding_name}/seed={self.seed}"

    def key(self, config: BenchmarkConfig, data_fingerprint: str) -> str:
        payload = {
            "dataset": self.dataset.model_dump(),
            "data_fingerprint": data_fingerprint,
            "protocol": self.protocol,
            "protocol_options": config.protocol_options.of(self.protocol).model_dump(),
            "model": self.model.model_dump(exclude={"embeddings", "label"}),
            "embedding": self.embedding.model_dump() if self.embedding else None,
            "seed": self.seed,
            "metrics": sorted(config.metrics),
            "ks": sorted(config.ks),
            "segments": config.segments.model_dump(),
            "code_version": __version__,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def model_run_name(spec: ModelSpec) -> str:
    from recsys_cl.models import create

    return create(spec.model, **spec.params).run_name


def grid(config: BenchmarkConfig) -> Iterator[Cell]:
    embeddings = {e.name: e for e in config.embeddings}
    for dataset in config.datasets:
        if dataset.retrieval_only:
            continue
        for protocol in config.protocols:
            for model in config.models:
                for embedding_name in model.embeddings:
                    for seed in config.seeds:
                        embedding = None if embedding_name == NO_EMBEDDING else embeddings[embedding_name]
                        yield Cell(dataset, protocol, model, embedding, seed)


def cell_record_base(cell: Cell) -> dict[str, Any]:
    return {
        "dataset": cell.dataset.name,
        "protocol": cell.protocol,
        "model": cell.model_label,
        "model_name": cell.model.model,
        "params": cell.model.params,
        "embedding": cell.embedding_name,
        "embedding_method": cell.embedding.method if cell.embedding else None,
        "seed": cell.seed,
    }
