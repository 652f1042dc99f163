"""The search: and tuning: keys of a benchmark config: every bad value is one line naming its key."""

from __future__ import annotations

import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench import model_space, study_plans, tuning_with_trials
from recsys_cl.bench._storage import check_storage
from recsys_cl.errors import InputError
from recsys_cl.models import MODELS
from recsys_cl.models._spaces import DEFAULT_SPACES, ParamSpace, default_space

CONFIG = """
name: t
datasets:
  - {name: ml, source: ml-100k}
embeddings:
  - {name: txt, method: raw-text}
models:
  - {model: pop}
  - {model: implicit-als, params: {factors: 8}}
  - {model: lightfm, embeddings: [none, txt]}
  - %s
"""


def load(tmp_path, entry: str, extra: str = ""):
    path = tmp_path / "bench.yaml"
    path.write_text(CONFIG % entry + extra)
    return load_config(path)


def error(tmp_path, entry: str, extra: str = "") -> str:
    with pytest.raises(InputError) as info:
        load(tmp_path, entry, extra)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_valid_search_and_tuning_section_load(tmp_path):
    config = load(tmp_path, "{model: lightgcn, search: {learning_rate: {type: log_float, low: 0.001, high: 0.1}, "
                            "n_layers: {type: int, low: 1, high: 3}, embedding_size: {type: categorical, choices: [32, 64]}}}",
                  "tuning: {trials: 7, sampler: random, pruner: none, metric: Hit@5, refit: train+valid}\nks: [5, 10]\n")  # fmt: skip
    assert config.tuning.trials == 7 and config.tuning.metric == "hr@5" and config.tuning.refit == "train+valid"
    assert set(config.models[3].search) == {"learning_rate", "n_layers", "embedding_size"}
    assert [p.describe() for p in study_plans(config)] == [
        "ml/loo/pop+none", "ml/loo/implicit-als(factors=8)+none", "ml/loo/lightfm+none", "ml/loo/lightfm+txt",
        "ml/loo/lightgcn+none",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{model: implicit-als, search: {lerning_rate: {type: float, low: 0.1, high: 1}}}",
         "bench.yaml: models.3.search.lerning_rate: implicit-als has no parameter 'lerning_rate'"),
        ("{model: itemknn, search: {shrinkage: {type: float, low: 0, high: 100}}}",
         "models.3.search.shrinkage: itemknn has no parameter 'shrinkage'; it has neighbours, similarity, shrink"),
        ("{model: implicit-als, search: {reg: {type: log_float, low: 1, high: 0.1}}}",
         "models.3.search.reg: low: 1 is above high 0.1"),
        ("{model: lightfm, search: {loss: {type: categorical, choices: []}}}",
         "models.3.search.loss: choices: must not be empty"),
        ("{model: lightfm, search: {learning_rate: {type: float, low: 0, high: 0.1}}}",
         "models.3.search.learning_rate.low: Input should be greater than 0 (got 0.0)"),
        ("{model: lightfm, search: {loss: {type: categorical, choices: [warp, hinge]}}}",
         "models.3.search.loss.choices.1: Input should be 'warp' or 'bpr' (got 'hinge')"),
        ("{model: implicit-als, search: {factors: {type: int, low: 8.5, high: 64}}}",
         "models.3.search.factors: low: int needs a whole number (got 8.5)"),
        ("{model: implicit-als, search: {reg: {type: log_float, low: 0, high: 1}}}",
         "models.3.search.reg: low: log_float needs low > 0"),
        ("{model: implicit-als, search: {seed: {type: int, low: 0, high: 9}}}",
         "models.3.search.seed: seed is not a hyperparameter"),
        ("{model: neumf, search: {id_dropout: {type: float, low: 0.1, high: 0.5}}}",
         "models.3.search.id_dropout.low: id_dropout needs content=fuse"),
        ("{model: implicit-als, search: {reg: {type: float, low: 0.1, high: 1, choices: [1]}}}",
         "models.3.search.reg: float takes low / high, not choices"),
    ],
)
def test_bad_search_spaces_name_the_key(tmp_path, entry, expected):
    assert expected in error(tmp_path, entry)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("tuning: {trials: 0}\n", "tuning.trials: Input should be greater than or equal to 1"),
        ("tuning: {metric: auc@10}\n", "tuning.metric: 'auc@10' is not computed"),
        ("tuning: {metric: ndcg}\n", "tuning.metric: 'ndcg' is not computed"),
        ("tuning: {sampler: bayes}\n", "tuning.sampler: Input should be 'tpe', 'random' or 'grid'"),
        ("tuning: {trails: 3}\n", "tuning.trails: Extra inputs are not permitted"),
        ("tuning: {sampler: grid}\n", "models.1.search (default space of implicit-als).reg: the grid sampler needs discrete values"),
    ],
)
def test_bad_tuning_sections_name_the_key(tmp_path, extra, expected):
    assert expected in error(tmp_path, "{model: pop}", extra)


def test_trials_override_and_storage_checks(tmp_path):
    assert tuning_with_trials(None, 4).trials == 4 and tuning_with_trials(None, None).trials == 20
    with pytest.raises(InputError, match="--trials 0: must be at least 1"):
        tuning_with_trials(None, 0)
    with pytest.raises(InputError, match="--storage postgresql://u:\\*\\*\\*@localhost:1/db: cannot open"):
        check_storage("postgresql://u:secret@localhost:1/db")
    with pytest.raises(InputError, match="--storage nosuchdb://x: cannot open"):
        check_storage("nosuchdb://x")
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        check_storage(str(a_file))
    check_storage(str(tmp_path / "new" / "folder"))
    assert not (tmp_path / "new").exists()


def test_every_registered_model_has_a_default_space_its_config_accepts():
    assert set(DEFAULT_SPACES) == {name for name, _ in MODELS.builtin_items()}
    for name, entry in DEFAULT_SPACES.items():
        config = MODELS.get(name).Config
        for spec in {**entry.space, **entry.content}.values():
            for value in spec.endpoints().values():
                assert isinstance(spec, ParamSpace) and value is not None
        assert set(entry.space) | set(entry.content) <= set(config.model_fields)
    assert default_space("pop", {}, False) == {} and default_space("random", {}, False) == {}
    assert set(default_space("implicit-als", {}, False)) == {"factors", "reg", "alpha", "epochs"}
    assert set(default_space("sgl", {}, False)) == {"learning_rate", "embedding_size", "n_layers", "reg_weight", "ssl_weight", "ssl_tau"}


def test_content_variants_add_their_own_knobs_where_their_config_takes_them():
    assert "embedding_components" not in default_space("lightfm", {}, False)
    assert "embedding_components" in default_space("lightfm", {}, True)
    assert "id_dropout" in default_space("lightgcn", {"content": "fuse"}, True)
    assert "id_dropout" not in default_space("lightgcn", {"content": "init"}, True)  # only fuse has ID parts to drop
    plain = default_space("neumf", {}, False)
    assert set(default_space("neumf", {"content": "fuse"}, True)) == set(plain) | {"id_dropout"}


def test_model_space_prefers_the_entry_search_even_when_empty(tmp_path):
    config = load(tmp_path, "{model: implicit-bpr, search: {}}")
    assert model_space(config.models[3], False) == {}
    assert set(model_space(config.models[1], False)) == {"factors", "reg", "alpha", "epochs"}


def test_spaces_describe_themselves_for_the_docs():
    from recsys_cl.models._spaces import DEFAULT_SPACES

    assert DEFAULT_SPACES["implicit-als"].space["factors"].describe() == "16..256 step 16"
    assert DEFAULT_SPACES["lightgcn"].content["id_dropout"].describe() == "0..0.8"
    assert DEFAULT_SPACES["implicit-als"].space["reg"].describe() == "log 0.0001..1"
    assert ParamSpace(type="categorical", choices=[32, 64]).describe() == "{32, 64}"


def test_tuning_without_a_tuning_section_refuses_a_default_metric_the_report_does_not_show(tmp_path):
    from recsys_cl.bench._tuning import tune_benchmark

    config = load(tmp_path, "{model: itemknn}", "ks: [12]\n")  # no tuning section: ndcg@10 would be tuned
    with pytest.raises(InputError, match=r"tuning.metric \(default\): ndcg@10 is not reported .*ks: 12"):
        tune_benchmark(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()
