"""``recsys-cl retrieve composed`` on a tiny synthetic styles sample: JSON structure, printed = stored."""

from __future__ import annotations

import json

import pytest

from recsys_cl.data import prepare
from recsys_cl.data.synth import generate_styles
from recsys_cl.embeddings._records import COMPOSED_ALL_METHODS


@pytest.fixture(scope="module")
def styles_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("styles")
    generate_styles(root / "raw", products=120, seed=3, images=True)
    prepare("styles", root / "atomic", raw=root / "raw", options={"name": "styles-synth"})
    return root / "atomic" / "styles-synth"


@pytest.mark.slow  # ~40 s on 2 shared cores: MiniLM plus EfficientNet-Lite0 over ~115 images
def test_composed_prints_the_json_metrics_per_method(styles_synth, tmp_path, cli):
    out_file = tmp_path / "composed.json"
    code, out, _ = cli(["retrieve", "composed", "--data", str(styles_synth), "--out", str(out_file), "--epochs", "3",
                        "-o", f"cache_dir={tmp_path / 'cache'}"])  # fmt: skip
    result = json.loads(out_file.read_text())
    assert code == 0
    assert result["n_gallery"] <= 120 and 0 < result["n_heldout_queries"] < result["n_queries"]
    printed = {line.strip("│ ").split("│")[0].strip(): [c.strip() for c in line.strip("│ ").split("│")[1:]]
               for line in out.splitlines() if line.startswith("│ ")}  # fmt: skip
    assert list(printed) == [m.replace("_", " ") for m in COMPOSED_ALL_METHODS]
    for method in COMPOSED_ALL_METHODS:
        metrics = result[method]
        assert metrics["n_queries"] == result["n_heldout_queries"]
        expected = [f"{metrics[f'{m}@{k}']:.4f}" for m in ("recall", "ndcg") for k in (5, 10)]
        assert printed[method.replace("_", " ")] == expected
        assert all(0.0 <= metrics[f"recall@{k}"] <= 1.0 for k in (5, 10))
    assert result["options"]["train"]["epochs"] == 3
    assert result["history"] == result["histories"]["fused_learner"] and all(len(h) == 3 for h in result["histories"].values())
    assert "Fused methods that lose" in out or "Every fused method matches" in out  # the note is printed


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-o", "text_model=tfidf"], "needs a sentence-transformers text model"),
        (["-o", "heldout_share=2"], "composed retrieval option: heldout_share: Input should be less than 1"),
        (["-o", "colour"], "--option: expected NAME=VALUE"),
        (["-o", 'combiner={"dropuot": 0.1}'], "composed retrieval option: combiner.dropuot: Extra inputs are not permitted"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(styles_synth, tmp_path, extra, message, cli):
    code, _, err = cli(["retrieve", "composed", "--data", str(styles_synth), "--out", str(tmp_path / "c.json"), *extra])
    errors = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "c.json").exists()


def test_help(cli):
    code, out, _ = cli(["retrieve", "composed", "--help"])
    assert code == 0 and "Composed retrieval" in out and "--epochs" in out
