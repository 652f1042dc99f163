"""Class: resource bombs from tiny inputs. A few bytes of config or file must not expand into memory, disk
or stderr: YAML aliases are capped, every number is bounded by what it means, a refused value is shown cut.
Each case is refused with exit 2 and a one-line message naming the key, the file and row, or the option."""

import numpy as np
import polars as pl
import pytest

from recsys_cl.bench import load_config
from recsys_cl.errors import MESSAGE_CHARS, InputError, cut_message, shown
from recsys_cl.yamlfile import parse_yaml

BASE = """name: t
datasets:
  - {name: ml, source: ml-100k}
"""

#: a 4-string list repeated 8^4 times by nested aliases: ~600 bytes of YAML, ~540,000 characters expanded
ALIAS_BOMB = """models:
  - model: recbole
    params:
      train_neg_sample_args: &a ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d]
"""


@pytest.mark.parametrize(
    "snippet, message",
    [
        (ALIAS_BOMB, "expands to more than"),
        ("models: &m [{model: pop, params: {x: *m}}]\n", "nested more than"),  # an alias inside its own anchor
        ("models:\n  - &r [*r]\n", "nested more than"),
        ("models: [{model: pop}]\nseeds: [-1]\n", "seeds.0: Input should be greater than or equal to 0"),
        ("models: [{model: pop}]\nseeds: [4294967296]\n", "seeds.0: Input should be less than or equal to 4294967295"),
        ("models: [{model: pop}]\ntuning: {seed: 99999999999999}\n", "tuning.seed"),
        ("models: [{model: implicit-als, params: {reg: .inf}}]\n", "models.0.params.reg: Input should be a finite number"),
        ("models: [{model: implicit-als, search: {reg: {type: log_float, low: 0.001, high: .inf}}}]\n",
         "models.0.search.reg.high"),
        ("models: [{model: pop}]\nprotocols: [cold-item]\nprotocol_options: {cold-item: {test_share: .nan}}\n",
         "protocol_options.cold-item.test_share"),
    ],
)
def test_config_expansion_and_numbers_are_bounded(tmp_path, cli, snippet, message):
    path = tmp_path / "c.yaml"
    path.write_text(BASE + snippet)
    assert len(path.read_bytes()) < 1000  # tiny inputs
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")) as caught:
        load_config(path)
    assert len(str(caught.value)) < 400
    code, out, err = cli(["bench", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and err.startswith("recsys-cl: error: ") and err.count("\n") == 1 and len(err) < 500
    assert not (tmp_path / "out").exists()


def test_k_and_rankings_are_bounded_by_the_catalogue(tmp_path, cli):
    """K = 10^12 or a rank of 10^300 would allocate terabytes; a 1 MB id would widen every row to 1 MB."""
    from recsys_cl.data import prepare

    prepare("hm-synth", tmp_path / "atomic", raw=tmp_path / "raw",
            options={"name": "hs", "synth": {"customers": 30, "articles": 20, "weeks": 3, "seed": 1}})  # fmt: skip
    data = tmp_path / "atomic" / "hs"
    test = pl.read_csv(data / "hs.test.inter", separator="\t", infer_schema=False)
    items = pl.read_csv(data / "hs.item", separator="\t", infer_schema=False)["item_id:token"].to_list()
    rows = [(u, i, str(r + 1)) for u in test["user_id:token"].to_list() for r, i in enumerate(items[:5])]
    good = pl.DataFrame(rows, schema=["user_id", "item_id", "rank"], orient="row")
    good.write_csv(tmp_path / "good.tsv", separator="\t")
    code, _, _ = cli(["evaluate", "--rankings", str(tmp_path / "good.tsv"), "--data", str(data), "--k", "5"])
    assert code == 0
    cases = {
        "long id": (good.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("x" * 1_000_000))
                                      .otherwise(pl.col("user_id")).alias("user_id")), "user_id in data row 3 has 1,000,000 characters"),
        "huge rank": (good.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("1e300"))
                                        .otherwise(pl.col("rank")).alias("rank")), "rank 1e+300 in data row 3 is beyond the catalogue (20 items)"),
    }  # fmt: skip
    for name, (frame, message) in cases.items():
        path = tmp_path / f"{name}.tsv"
        frame.write_csv(path, separator="\t")
        code, out, err = cli(["evaluate", "--rankings", str(path), "--data", str(data)])
        assert code == 2 and message in err and len(err) < 500, (name, err)

    from recsys_cl.data import load_dataset
    from recsys_cl.models import create

    model = create("pop").fit(load_dataset(data).encoded("loo"))
    with pytest.raises(InputError, match=r"ks: cutoff K=1000000000000 is larger than the catalogue \(20 items\) and than 100,000 places"):
        model.recommend(None, k=10**12)


def test_refused_values_are_shown_cut():
    huge = ["x" * 10_000] * 10_000
    assert len(shown(huge)) < 200 and len(shown("y" * 10**6)) < 100 and shown(3) == "3"
    assert len(cut_message("z" * 10**6)) < MESSAGE_CHARS + 50
    # a refused pass-through value names its key and shows the value cut
    from recsys_cl.errors import validated
    from recsys_cl.models import MODELS

    with pytest.raises(InputError) as caught:
        validated(MODELS.get("recbole").Config, {"params": {"learner": list(range(100_000))}}, "c.yaml", key_prefix="models.0.params.")
    assert "models.0.params.params.learner" in str(caught.value) and len(str(caught.value)) < 400


def test_yaml_reader_keeps_what_yaml_means():
    """The caps and the duplicate check do not change what an honest file says (merge keys, anchors)."""
    assert parse_yaml("a: &x {p: 1}\nb:\n  <<: *x\n  q: 2\nc: [*x, *x]\n", "f") == {
        "a": {"p": 1}, "b": {"p": 1, "q": 2}, "c": [{"p": 1}, {"p": 1}]
    }  # fmt: skip
    assert parse_yaml("", "f") is None
    big = {"v": list(np.arange(5000).tolist())}
    assert parse_yaml(f"v: {big['v']}\n", "f") == big
