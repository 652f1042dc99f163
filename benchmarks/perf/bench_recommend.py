"""Exporting recommendations at H&M size: ``recommend`` (fit on all, every customer, H&M submission) against
scoring the temporal test (fit on train, rank the test buyers, evaluate), for Repurchase and ALS.

    python benchmarks/perf/bench_recommend.py                 # scale 0.05 of full H&M
    python benchmarks/perf/bench_recommend.py --scale 1.0     # 1,371,980 customers, 105,542 articles, 31.8M rows

On synthetic H&M at the scale (the Kaggle layout from the generator, cached under datasets/raw/), prepared
once by the benchmark's own ``prepare_dataset`` (temporal protocol, cached under datasets/perf/), each
measurement in its own child process (time and peak RSS of that process only):

* score: the benchmark cell's path: ``encoded("temporal")``, fit on train, top-12 for every test buyer
  (``exclude_seen: false``, the competition's setting), ``evaluate`` (6 metrics @12, segments);
* export: ``recsys_cl.bench.recommend_for_config(..., fit_on="all", output_format="hm-submission")`` end to
  end: data reuse check (a content hash of the raw files), fit on train+valid+test, every customer of
  customers.csv ranked in chunks of ``--chunk-users`` and streamed to ``submission.csv``, the file checked,
  the folder renamed into place. ``--format lists`` exports Parquet + TSV lists for every user instead.

Each stage is printed with its seconds and the child's peak RSS so far at its end (where the peak is reached).
The target (issue 27): export within the time and memory of scoring, so the printed ratios are export / score,
and the cost of one ranked user side by side (the export ranks every customer with a purchase, the test only
the last week's buyers). Full size needs about 13 GB of disk (raw CSVs, prepared files, one export) and, from
the figures in docs/measured.md, roughly 10 GB of memory for ALS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perf import FULL, PREPARED_ROOT, Stages, disk_free_gb, hm_raw, rss_mb, run_child, scale_name  # noqa: E402

K = 12
MODELS = {"repurchase": ("Repurchase", {}), "als": ("ALS", {"factors": 64, "epochs": 15, "num_threads": 2})}


def _config(raw: str, models: list[str]) -> dict:
    return {
        "name": "perf-recommend",
        "datasets": [{"name": "hm", "source": "hm", "raw": raw}],
        "protocols": ["temporal"],
        "protocol_options": {"temporal": {"exclude_seen": False}},
        "models": [{"model": "implicit-als" if m == "als" else m, "params": MODELS[m][1]} for m in models],
        "metrics": ["hr", "ndcg", "recall", "precision", "mrr", "map"],
        "ks": [K],
    }


def child_prepare(config_json: str, run_dir: str) -> dict:
    from recsys_cl.bench import BenchmarkConfig
    from recsys_cl.bench._artifacts import prepare_dataset

    config = BenchmarkConfig.model_validate_json(config_json)
    start = time.perf_counter()
    atomic_dir, fingerprint = prepare_dataset(config.datasets[0], config, Path(run_dir) / "data")
    return {"seconds": time.perf_counter() - start, "peak_mb": rss_mb(), "dir": str(atomic_dir), "fingerprint": fingerprint}


def child_score(atomic_dir: str, model: str) -> dict:
    """What a benchmark cell does with the model (bench.run_cell): fit on train, rank test buyers, evaluate."""
    from recsys_cl.data import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    base = rss_mb()
    stages = Stages()
    with stages("load split + encode"):
        encoded = load_dataset(atomic_dir).encoded("temporal")
    fitted = create("implicit-als" if model == "als" else model, **MODELS[model][1])
    with stages("fit on train"):
        fitted.fit(encoded)
    with stages(f"top-{K} for every test buyer"):
        rankings = fitted.recommend(k=K, exclude_seen=False)
    with stages("evaluate"):
        result = evaluate(rankings, encoded, ks=(K,), exclude_seen=False)
    return {"stages": stages.seconds, "stage_peak_mb": stages.peak_mb, "peak_mb": rss_mb(), "base_mb": base,
            "users": len(rankings), "map@12": result.summary[f"map@{K}"]}  # fmt: skip


def child_export(config_json: str, run_dir: str, out: str, model: str, output_format: str, chunk_users: int) -> dict:
    from recsys_cl.bench import BenchmarkConfig, recommend_for_config

    config = BenchmarkConfig.model_validate_json(config_json)
    base = rss_mb()
    marks: list[tuple[str, float, float]] = []  # (stage, start time, process peak so far when it started)

    def progress(stage: str, done: int, total: int) -> None:
        marks.append((stage, time.perf_counter(), rss_mb()))

    start = time.perf_counter()
    record = recommend_for_config(config, out, model=MODELS[model][0], run_dir=run_dir, fit_on="all", output_format=output_format,
                                  chunk_users=chunk_users, progress=progress)  # fmt: skip
    seconds = time.perf_counter() - start
    stages: dict[str, float] = {}
    stage_peak: dict[str, float] = {}  # the process peak so far at the end of the stage
    for (name, began, _), (_, ended, peak) in zip(marks, [*marks[1:], ("", time.perf_counter(), rss_mb())]):
        key = "rank + write (all chunks)" if name.startswith("recommend: ") else name  # one stage a chunk: summed
        stages[key] = stages.get(key, 0.0) + ended - began
        stage_peak[key] = max(stage_peak.get(key, 0.0), peak)
    size = sum(p.stat().st_size for p in Path(out).iterdir()) / 1e6
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "stages": stages, "stage_peak_mb": stage_peak, "peak_mb": rss_mb(), "base_mb": base,
            "output_mb": size, "users": record.get("customers", record.get("users")),
            "ranked": record.get("customers_with_model_list", record.get("users")),
            "fallback": record.get("customers_filled_by_fallback")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="share of full H&M size (default 0.05; 1.0 = full)")
    parser.add_argument("--models", default="repurchase,als", help="comma list of repurchase, als")
    parser.add_argument("--format", dest="output_format", default="hm-submission", help="hm-submission or lists")
    parser.add_argument("--chunk-users", type=int, default=50_000)
    parser.add_argument("--ceiling-mb", type=float, default=16_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        a = json.loads(args.args)
        child = {"prepare": child_prepare, "score": child_score, "export": child_export}[args.child]
        print(json.dumps(child(**a)))
        return
    models = args.models.split(",")
    # raw CSVs (~3.5 GB at full size), their prepared atomic and split files (~7 GB) and one export's files
    need_gb = 12 * args.scale + 1
    if disk_free_gb() < need_gb:
        raise SystemExit(f"bench_recommend: {disk_free_gb():.0f} GB free, scale {args.scale:g} needs about {need_gb:.0f} GB")
    raw, made = hm_raw(args.scale)
    if made:
        print(f"generated synthetic H&M at scale {args.scale:g}: {made['rows']:,} transactions in {made['seconds']:.0f} s")
    config_json = json.dumps(_config(str(raw), models))
    run_dir = PREPARED_ROOT / f"recommend-scale{scale_name(args.scale)}"

    def child(name: str, **kwargs) -> dict:
        return run_child(__file__, ["--child", name, "--args", json.dumps(kwargs)], args.ceiling_mb)

    prep = child("prepare", config_json=config_json, run_dir=str(run_dir))
    print(f"prepared (or reused) temporal split in {prep['seconds']:.0f} s: {prep['dir']}")
    print(f"scale {args.scale:g}: {round(FULL['customers'] * args.scale):,} customers, {round(FULL['articles'] * args.scale):,} "
          f"articles, {round(FULL['transactions'] * args.scale):,} transactions (full H&M: {FULL['customers']:,} / "
          f"{FULL['articles']:,} / {FULL['transactions']:,})")  # fmt: skip
    for model in models:
        print(f"{MODELS[model][0]}: scoring the temporal test, then exporting (each in its own process) ...", flush=True)
        score = child("score", atomic_dir=prep["dir"], model=model)
        export = child("export", config_json=config_json, run_dir=str(run_dir), out=str(run_dir / f"out-{model}"), model=model,
                       output_format=args.output_format, chunk_users=args.chunk_users)  # fmt: skip
        label = MODELS[model][0]
        if score.get("killed") or export.get("killed"):
            print(f"{label}: stopped at the memory ceiling (score {score}, export {export})")
            continue
        score_s = sum(score["stages"].values())
        print(f"{label}")
        print(f"  score temporal test: {score['users']:,} test buyers, {score_s:.1f} s, peak RSS {score['peak_mb']:.0f} MB, "
              f"map@12 {score['map@12']:.4f}")  # fmt: skip
        for stage, seconds in score["stages"].items():
            print(f"      {stage:40s} {seconds:8.1f} s   peak so far {score['stage_peak_mb'][stage]:7.0f} MB")
        print(f"  export ({args.output_format}, fit on all): {export['users']:,} users, {export['seconds']:.1f} s, peak RSS "
              f"{export['peak_mb']:.0f} MB, {export['output_mb']:.0f} MB written"
              + (f", {export['fallback']:,} by the fallback" if export["fallback"] is not None else ""))  # fmt: skip
        for stage, seconds in export["stages"].items():
            print(f"      {stage:40s} {seconds:8.1f} s   peak so far {export['stage_peak_mb'][stage]:7.0f} MB")
        print(f"  export / score: time {export['seconds'] / score_s:.2f}, peak memory {export['peak_mb'] / score['peak_mb']:.2f}")
        # the export ranks every customer, the test only its buyers: the cost of one ranked user, side by side
        per_export = export["stages"].get("rank + write (all chunks)", 0.0) / max(export["ranked"], 1)
        per_score = score["stages"][f"top-{K} for every test buyer"] / max(score["users"], 1)
        print(f"  per ranked user: export {per_export * 1e3:.3f} ms (rank + write, {export['ranked']:,} ranked), score "
              f"{per_score * 1e3:.3f} ms (rank); ratio {per_export / per_score:.2f}; users ranked "
              f"{export['ranked'] / score['users']:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
