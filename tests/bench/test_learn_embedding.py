"""The runner's embeddings: one per (dataset, protocol, embedding, seed), learned on the benchmark's
device, and each cell given the embedding learned with its own seed."""

from __future__ import annotations

import numpy as np

import recsys_cl.embeddings
from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.bench import _artifacts, _cell
from recsys_cl.bench._config import EmbeddingSpec
from recsys_cl.embeddings import EmbeddingQuality, read_itememb

CONFIG = """
name: t
datasets:
  - {name: syn, source: hm-synth, synth: {customers: 40, articles: 30, weeks: 3}}
embeddings:
  - {name: nce, method: text-nce, options: {text_model: tfidf, use_cache: false, train: {epochs: 2, batch_size: 16}}}
models:
  - {model: content-knn, embeddings: [nce]}
seeds: [0, 1]
device: cpu
"""


def test_each_seed_learns_its_own_embedding_on_the_benchmarks_device(tmp_path, monkeypatch):
    calls = []
    real_embed, real_run_cell = recsys_cl.embeddings.embed, _cell.run_cell

    def embed(*args, **kwargs):
        calls.append((kwargs["seed"], kwargs["device"]))
        return real_embed(*args, **kwargs)

    def run_cell(cell, config_json, atomic_dir, embedding_path, progress=None):
        cells.append((cell.seed, embedding_path))
        return real_run_cell(cell, config_json, atomic_dir, embedding_path, progress)

    cells: list = []
    monkeypatch.setattr(recsys_cl.embeddings, "embed", embed)
    monkeypatch.setattr(_cell, "run_cell", run_cell)
    config_path = tmp_path / "b.yaml"
    config_path.write_text(CONFIG)
    out = tmp_path / "out"
    run = run_benchmark(load_config(config_path), out)

    assert sorted(calls) == [(0, "cpu"), (1, "cpu")]
    paths = {seed: out / "embeddings" / "syn" / "loo" / f"seed-{seed}" / "nce.itememb" for seed in (0, 1)}
    assert run.embeddings == {f"syn/loo/nce/seed-{s}": str(p) for s, p in paths.items()}
    assert sorted(cells) == [(s, str(p)) for s, p in paths.items()]  # a cell uses its own seed's embedding
    for seed, path in paths.items():
        options = EmbeddingQuality.read(f"{path}.quality.json").options["train"]
        assert (options["seed"], options["device"]) == (seed, "cpu")
    assert np.abs(read_itememb(paths[0]).vectors - read_itememb(paths[1]).vectors).max() > 1e-4

    run_benchmark(load_config(config_path), out)  # unchanged inputs: both reused
    assert len(calls) == 2


def test_learn_embedding_is_reused_per_seed_and_rerun_for_another(tmp_path, monkeypatch):
    from recsys_cl.data._dataset import write_dataset
    import polars as pl

    items = pl.DataFrame({"item_id": [f"i{n}" for n in range(12)], "text": [f"word{n % 4} thing{n}" for n in range(12)]})
    inter = pl.DataFrame({"user_id": [f"u{n % 4}" for n in range(24)], "item_id": [f"i{n % 12}" for n in range(24)],
                          "timestamp": [float(n) for n in range(24)]})  # fmt: skip
    write_dataset(tmp_path / "d", "d", inter, items=items, protocols=("loo",))
    spec = EmbeddingSpec(name="raw", method="raw-text", options={"text_model": "tfidf", "use_cache": False})
    calls = []
    real = recsys_cl.embeddings.embed
    monkeypatch.setattr(recsys_cl.embeddings, "embed", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    first = _artifacts.learn_embedding(spec, tmp_path / "d", "loo", tmp_path / "emb", seed=3, device="cpu")
    assert first == tmp_path / "emb" / "d" / "loo" / "seed-3" / "raw.itememb" and first.is_file()
    assert _artifacts.learn_embedding(spec, tmp_path / "d", "loo", tmp_path / "emb", seed=3, device="cpu") == first
    _artifacts.learn_embedding(spec, tmp_path / "d", "loo", tmp_path / "emb", seed=4, device="cpu")
    assert calls == [3, 4]


def test_learned_embedding_is_not_reused_once_the_data_changed(tmp_path, monkeypatch):
    from recsys_cl.data._dataset import write_dataset
    import polars as pl

    items = pl.DataFrame({"item_id": [f"i{n}" for n in range(12)], "text": [f"word{n % 4} thing{n}" for n in range(12)]})
    inter = pl.DataFrame({"user_id": [f"u{n % 4}" for n in range(24)], "item_id": [f"i{n % 12}" for n in range(24)],
                          "timestamp": [float(n) for n in range(24)]})  # fmt: skip
    write_dataset(tmp_path / "d", "d", inter, items=items, protocols=("loo",))
    spec = EmbeddingSpec(name="raw", method="raw-text", options={"text_model": "tfidf", "use_cache": False})
    calls = []
    real = recsys_cl.embeddings.embed

    def embed(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recsys_cl.embeddings, "embed", embed)
    for fingerprint in ("data-v1", "data-v1", "data-v2"):
        _artifacts.learn_embedding(spec, tmp_path / "d", "loo", tmp_path / "emb", data_fingerprint=fingerprint)
    assert len(calls) == 2  # reused while the data was the same, learned again when it changed
