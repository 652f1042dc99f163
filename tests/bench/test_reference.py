"""benchmarks/reference/*.yaml: what they run (checked on every test run), and, once a real run of a part has
produced results/baselines/reference-<part>.json, that a re-run matches it (slow: hours on 2 cores)."""

import os
from collections import Counter
from pathlib import Path

import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._config import check_spaces
from recsys_cl.bench._plan import grid, study_plans
from recsys_cl.cli import main

ROOT = Path(__file__).parents[2]
PARTS = {part: ROOT / "benchmarks" / "reference" / f"{part}.yaml" for part in ("ml-100k-cf", "ml-100k-content", "ml-100k-cold-items", "ml-100k-sequential", "hm-synth")}


def baseline(part: str) -> Path:
    return ROOT / "results" / "baselines" / f"reference-{part}.json"


@pytest.mark.parametrize("part", sorted(PARTS))
def test_reference_config_tunes_every_variant_alike(part):
    config = load_config(PARTS[part])
    check_spaces(config, str(PARTS[part]))
    tuning = config.tuning
    assert tuning.trials >= 16 and tuning.pruner == "median" and tuning.refit == "train+valid" and tuning.compare_default
    assert config.seeds == [0, 1, 2]
    assert config.name == f"reference-{part}"


def test_reference_parts_cover_the_promised_grid():
    plans = [p for part in sorted(PARTS) for p in study_plans(load_config(PARTS[part]))]
    groups = Counter((p.dataset, p.protocol) for p in plans)
    # ml-100k (real): loo and cold-item; the synthetic H&M sample: loo, cold-item and the competition's week
    assert set(groups) == {("ml-100k", "loo"), ("ml-100k", "cold-item"), ("hm-synth", "loo"), ("hm-synth", "cold-item"),
                           ("hm-synth", "temporal")}  # fmt: skip
    assert len(plans) == 11 + 15 + 11 + 3 + 54
    assert sum(len(list(grid(load_config(path)))) for path in PARTS.values()) == (11 + 15 + 11 + 3 + 54) * 3
    models = {p.model.model for p in plans}
    assert {"ease", "rp3beta", "slim", "itemknn", "bm3", "two-stage", "sasrec"} <= models
    # every model in a part's loo group is in its cold-item group only when it can rank new items
    cold = {(p.dataset, p.model.model) for p in plans if p.protocol == "cold-item"}
    assert ("ml-100k", "bm3") not in cold and ("ml-100k", "lightgcn") in cold
    # the parts share variants (Random, Pop, plain LightFM and LightGCN) as the same studies: same keys
    cf, content = (study_plans(load_config(PARTS[part])) for part in ("ml-100k-cf", "ml-100k-content"))
    shared = {(p.model.model, p.embedding_name) for p in cf} & {(p.model.model, p.embedding_name) for p in content if p.protocol == "loo"}
    assert shared == {("random", "none"), ("pop", "none"), ("lightfm", "none"), ("lightgcn", "none")}
    assert load_config(PARTS["hm-synth"]).exclude_seen("temporal") is False


@pytest.mark.slow
@pytest.mark.parametrize("part", sorted(PARTS))
def test_reference_run_matches_the_committed_baseline(part, tmp_path, capsys):
    if not baseline(part).is_file():
        pytest.skip(f"{baseline(part).relative_to(ROOT)} comes from a real run of {PARTS[part].relative_to(ROOT)}")
    # a persistent folder (RECSYS_CL_REFERENCE_OUT/<part>) resumes across sessions; hours on 2 cores from scratch
    root = os.environ.get("RECSYS_CL_REFERENCE_OUT")
    out = Path(root) / part if root else tmp_path / part
    with pytest.raises(SystemExit) as bench:
        main(["bench", str(PARTS[part]), "--out", str(out), "--jobs", "2"])
    assert bench.value.code == 0
    with pytest.raises(SystemExit) as compare:
        main(["compare", str(out), "--baseline", str(baseline(part)), "--rtol", "0.02"])
    captured = capsys.readouterr()
    assert compare.value.code == 0, captured.out + captured.err
    assert "MISSING" not in captured.out and "no regression" in captured.out


def publish_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_publish", ROOT / "benchmarks" / "reference" / "publish.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = """name: {name}
datasets:
  - {{name: hs, source: hm-synth, synth: {{customers: 40, articles: 25, weeks: 3, seed: 1}}}}
models:
  - {{model: pop}}
  - {{model: itemknn}}
tuning: {{trials: 2}}
"""


def test_publish_writes_the_docs_folder_and_the_baseline_and_refuses_another_run(tmp_path, cli):
    publish = publish_module()
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.format(name="reference-hm-synth"))
    results = tmp_path / "results"
    code, _, err = cli(["bench", str(config), "--out", str(results)])
    assert code == 0, err
    docs, baseline_file = tmp_path / "docs" / "hm-synth", tmp_path / "reference-hm-synth.json"
    (docs / "stale").mkdir(parents=True)  # an earlier publish is replaced as a whole
    facts = publish.publish(results, "hm-synth", docs_dir=docs, baseline=baseline_file, run_hours=0.5)
    assert sorted(p.name for p in docs.iterdir()) == ["costs.csv", "figures", "metrics.csv", "published.json", "report.md",
                                                      "run.json", "tuning"]  # fmt: skip
    report = (docs / "report.md").read_text()
    assert "ItemKNN" in report and any((docs / "figures").glob("*.png"))
    # the tuning table's title gives the budget of the tuned models, not Pop's single trial (Pop comes first)
    assert "pruner median, 2 trials per study)" in report
    assert facts["cells"] == 3 and facts["studies"] == 2 and facts["trials"] == 1 + 2 and facts["run_hours"] == 0.5
    assert facts["machine"]["cores"] == os.cpu_count()
    assert not list(docs.parent.glob(".*tmp"))
    # the baseline is what `compare` reads: the same run compared with it shows no regression
    code, out, err = cli(["compare", str(results), "--baseline", str(baseline_file)])
    assert code == 0 and "no regression" in out, out + err
    # a folder of another config is refused, and the published folder is left as it was
    before = {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()}
    with pytest.raises(publish.InputError, match="not reference-ml-100k"):
        publish.publish(results, "ml-100k", docs_dir=docs, baseline=baseline_file, run_hours=None)
    assert {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()} == before
