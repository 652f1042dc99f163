"""Artifacts of a benchmark and their records: prepared datasets, learned embeddings, composed retrieval,
finished cells, and the files written from them (``metrics.csv``, ``costs.csv``, ``run.json``).

Each artifact is reused only while the marker beside it records the same inputs (and code version); it is
written atomically first and its marker last, so a crash in between makes it again.

Results directory layout::

    OUT/run.json                 config, git commit, package versions, device, timings, cell keys
    OUT/metrics.csv              long form: dataset, protocol, model, embedding, seed, segment, metric, k, value
    OUT/costs.csv                one row per cell: seconds, peak memory and energy of fit and recommend
    OUT/cells/<key>.json         one finished cell (written last, atomically: its presence means done)
    OUT/cells/<key>.users.parquet  per-user scores of that cell (significance, regression diffs)
    OUT/data/                    prepared datasets (raw synthetic files, atomic files)
    OUT/embeddings/<ds>/<protocol>/seed-<s>/<name>.itememb (+ .quality.json): learned with the cells' seed s
    OUT/embeddings/<ds>/<protocol>/fit-<parts>/seed-<s>/<name>.itememb: learned on more of the split
                                 (``recsys-cl recommend --fit-on train+valid|all``: parts ``train+valid``, ``train+valid+test``)
    OUT/embeddings/<ds>/retrieval/composed.json   composed retrieval of a retrieval-only dataset, when asked
    OUT/tuning/                  studies (see ``_study``)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from recsys_cl import __version__
from recsys_cl.bench._config import BenchmarkConfig, ComposedRetrievalSpec, DatasetSpec, EmbeddingSpec
from recsys_cl.bench._plan import RETRIEVAL
from recsys_cl.errors import InputError
from recsys_cl.files import read_json, write_json
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import CellRecord, read_cell, write_cell, write_costs_csv, write_metrics_csv

#: where a results folder keeps its finished cells
CELLS_DIR = "cells"


# ---------------------------------------------------------------------------------------------- data
def prepare_dataset(
    spec: DatasetSpec, config: BenchmarkConfig, data_root: Path, raw_override: str | None = None, progress: StageProgress | None = None
) -> tuple[Path, str]:
    """Prepare (or reuse) ``data_root/atomic/<name>``; returns its folder and a fingerprint of its inputs.

    Reused only when its marker records the same inputs: the source, its options and a content hash of
    the raw files (``recsys_cl.data.input_fingerprint``), so a rewritten raw file re-prepares it.
    """
    from recsys_cl.data import SOURCES, input_fingerprint, prepare, source_options

    source = SOURCES.get(spec.source)
    options = source_options(spec.source, spec.source_options(list(config.protocols), config.protocol_options),
                             f"dataset {spec.name}")  # fmt: skip
    raw = data_root / "raw" / spec.name if source.raw == "generated" else _raw_folder(spec, raw_override, source.raw)
    fingerprint = input_fingerprint(spec.source, raw, options)
    out_dir = data_root / "atomic" / spec.name
    marker = out_dir / ".prepared.json"
    if marker.is_file():
        done = _marker(marker)  # cut short by a crash, or damaged: prepare again
        same = done.get("fingerprint") == fingerprint and done.get("code_version") == __version__
        if same and (out_dir / f"{spec.name}.meta.json").is_file():
            return out_dir, fingerprint
    prepare(spec.source, data_root / "atomic", raw=raw, options=options, progress=progress)
    write_json(marker, {"source": spec.source, "fingerprint": fingerprint, "code_version": __version__})
    return out_dir, fingerprint


def _raw_folder(spec: DatasetSpec, raw_override: str | None, need: str) -> Path | None:
    raw_path = raw_override or spec.raw
    if not raw_path:
        if need == "optional":
            return None
        raise InputError(f"dataset {spec.name}: no raw folder; set datasets.*.raw or pass --raw {spec.name}=PATH")
    return Path(raw_path)


def learn_embedding(
    spec: EmbeddingSpec, atomic_dir: Path, protocol: str, out_root: Path, progress: StageProgress | None = None,
    *, seed: int = 0, device: str = "auto", data_fingerprint: str | None = None, parts: tuple[str, ...] = ("train",),
) -> Path:
    """Run (or reuse) an embedding learner for one dataset, protocol and seed, on ``device``.

    Per protocol because learners that read interactions (co-purchase) must see only that
    protocol's training part: under cold-item, held-out items' purchases are not theirs to use.
    Per seed because the cell's seed drives every random step, the learner's included: the spread
    over seeds then holds embedding-training variance too. Reused only while the data it was learned
    from (``data_fingerprint``) and the code are the same. ``parts`` other than ``("train",)``: learned
    on those parts of the split merged (what a model fitted on them is given, ``recsys-cl recommend
    --fit-on``), kept apart in ``fit-<parts>/``.
    """
    from recsys_cl.embeddings import embed

    merged = parts != ("train",)
    folder = out_root / atomic_dir.name / protocol / (f"fit-{'+'.join(parts)}" if merged else "")
    path = folder / f"seed-{seed}" / f"{spec.name}.itememb"
    wanted = {"spec": spec.identity(), "seed": seed, "data_fingerprint": data_fingerprint, "code_version": __version__}
    if merged:  # only then: the bench's own markers stay as they were (its embeddings are reused)
        wanted["parts"] = list(parts)
    # retrieval-only datasets have no split ("retrieval" only names their folder)
    split = "loo" if protocol == RETRIEVAL else protocol
    return _reuse_or_run(path, wanted, lambda: embed(atomic_dir, spec.method, path, protocol=split, parts=parts, seed=seed,
                                                     device=device, progress=progress, **spec.options))  # fmt: skip


def run_composed_retrieval(
    spec: ComposedRetrievalSpec, atomic_dir: Path, data_fingerprint: str, out_root: Path, progress: StageProgress | None = None,
    *, seed: int = 0, device: str = "auto",
) -> Path:
    """Run (or reuse) composed retrieval on a retrieval-only dataset with ``seed``, on ``device``; returns its result JSON."""
    from recsys_cl.embeddings import composed_retrieval

    path = out_root / atomic_dir.name / RETRIEVAL / "composed.json"
    wanted = {"options": spec.options, "seed": seed, "data_fingerprint": data_fingerprint, "code_version": __version__}
    return _reuse_or_run(path, wanted, lambda: composed_retrieval(atomic_dir, path, seed=seed, device=device,
                                                                  progress=progress, **spec.options))  # fmt: skip


def read_variant(specs: tuple[EmbeddingSpec, ...], paths: str | list[str] | None) -> Any:
    """What a model is given for an embedding variant: None, one ``ItemEmbeddings``, or a mapping name ->
    ``ItemEmbeddings`` (several modalities)."""
    from recsys_cl.embeddings import read_itememb

    if not paths:
        return None
    if isinstance(paths, str):
        return read_itememb(paths, specs[0].name if specs else None)
    return {spec.name: read_itememb(path, spec.name) for spec, path in zip(specs, paths)}


def _reuse_or_run(path: Path, wanted: dict[str, Any], make: Callable[[], Any]) -> Path:
    """``path`` as it is when its ``.spec.json`` says it was made from ``wanted``; else ``make()`` it
    (which writes ``path`` atomically) and only then write the marker, so a crash in between re-runs it."""
    marker = Path(f"{path}.spec.json")
    if path.is_file() and marker.is_file() and _marker(marker) == wanted:
        return path
    make()
    write_json(marker, wanted)
    return path


def _marker(path: Path) -> dict[str, Any]:
    """What a done-marker says it was made from; {} (so the work is redone) when it is damaged."""
    try:
        found = read_json(path, "marker")
    except InputError:
        return {}
    return found if isinstance(found, dict) else {}


# ---------------------------------------------------------------------------------------------- cells
def open_cells_dir(out_dir: Path) -> Path:
    """``out_dir/cells``, made if missing, without the temporary files a run killed mid-write left."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: results folder is a file, not a folder")
    cells_dir = out_dir / CELLS_DIR
    cells_dir.mkdir(parents=True, exist_ok=True)
    for stale in cells_dir.glob(".*.tmp"):  # never a finished cell
        stale.unlink()
    return cells_dir


def cell_done(cells_dir: Path, key: str) -> bool:
    return (cells_dir / f"{key}.json").is_file()


def store_cell(cells_dir: Path, key: str, record: CellRecord, per_user: bytes) -> None:
    write_cell(cells_dir, record.model_copy(update={"key": key}), per_user)


def write_results(cells_dir: Path, keys: list[str], out_dir: Path) -> list[CellRecord]:
    """``metrics.csv`` and ``costs.csv`` of the cells ``keys``, read back from their files (not from records in
    memory), so the tables are exactly what is stored."""
    records = [read_cell(cells_dir / f"{k}.json") for k in keys]
    write_metrics_csv(records, out_dir / "metrics.csv")
    write_costs_csv(records, out_dir / "costs.csv")  # not in metrics.csv: see reporting's cost table
    return records
