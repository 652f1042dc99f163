import pytest

from recsys_cl.bench import grid, load_config
from recsys_cl.errors import InputError

GOOD = """
name: t
datasets:
  - {name: ml, source: ml-100k}
  - {name: syn, source: hm-synth, synth: {customers: 50, articles: 40, weeks: 4}}
protocols: [loo, cold-item]
embeddings:
  - {name: txt, method: raw-text}
models:
  - {model: pop}
  - {model: content-knn, embeddings: [txt]}
  - {model: implicit-als, params: {factors: 8}, embeddings: [none]}
seeds: [0, 1]
"""


def write(tmp_path, text):
    path = tmp_path / "b.yaml"
    path.write_text(text)
    return path


def test_grid_is_datasets_x_protocols_x_models_x_embeddings_x_seeds(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    cells = list(grid(config))
    assert len(cells) == 2 * 2 * 3 * 2
    assert {c.embedding_name for c in cells if c.model.model == "content-knn"} == {"txt"}
    assert cells[0].describe() == "ml/loo/Pop/seed=0"
    assert {c.label for c in cells} == {"Pop", "content-kNN + txt", "ALS"}


def test_cell_keys_change_with_inputs_and_only_then(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    cells = list(grid(config))
    keys = [c.key(config, "fp") for c in cells]
    assert len(set(keys)) == len(keys)
    assert keys == [c.key(load_config(write(tmp_path, GOOD)), "fp") for c in cells]
    assert cells[0].key(config, "other-data") != keys[0]
    changed = load_config(write(tmp_path, GOOD.replace("factors: 8", "factors: 9")))
    als = [c for c in grid(changed) if c.model.model == "implicit-als"][0]
    als_before = [c for c in cells if c.model.model == "implicit-als"][0]
    assert als.key(changed, "fp") != als_before.key(config, "fp")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("seeds: [0, 1]", "seeds: [0, 1]\nepochs: 3"), "b.yaml: epochs: Extra inputs are not permitted"),
        (lambda t: t.replace("{model: pop}", "{model: pop, params: {bogus: 1}}"), "b.yaml: models.0.params.bogus: Extra inputs are not permitted"),
        (lambda t: t.replace("{model: pop}", "{model: popular}"), "b.yaml: models.0.model: unknown model 'popular'"),
        (lambda t: t.replace("embeddings: [txt]", "embeddings: [img]"), "models.1.embeddings: 'img' is not one of the embeddings"),
        (lambda t: t.replace("source: ml-100k", "source: movielens"), "b.yaml: datasets.0.source: unknown data source 'movielens'"),
        (lambda t: t.replace("protocols: [loo, cold-item]", "protocols: [loo, random]"), "b.yaml: protocols.1: Input should be"),
        (lambda t: t.replace("synth: {customers: 50", "synth: {customers: 50, color: red"), "b.yaml: datasets.1.synth.color: Extra inputs"),
        (lambda t: t.replace("synth: {customers: 50", "synth: {customers: -5"), "b.yaml: datasets.1.synth.customers: Input should be greater than 0"),
        (lambda t: t.replace("{name: ml, source: ml-100k}", "{name: ml, source: ml-100k, prepare: {weeks: 3}}"), "b.yaml: datasets.0.prepare.weeks: Extra inputs"),
        (lambda t: t.replace("synth: {customers: 50", "prepare: {weeks: 0}, synth: {customers: 50"), "b.yaml: datasets.1.prepare.weeks: Input should be greater than or equal to 1"),
        # everything a run would find out late is found when the file is read
        (lambda t: t + "ks: [0]\n", "b.yaml: ks: cutoff K must be >= 1 (got 0)"),
        (lambda t: t + "ks: []\n", "b.yaml: ks: list at least one cutoff K"),
        (lambda t: t + "metrics: [ndcg, ndgc]\n", "b.yaml: metrics: unknown metric 'ndgc'"),
        (lambda t: t.replace("seeds: [0, 1]", "seeds: []"), "b.yaml: seeds: must not be empty"),
        (lambda t: t.replace("seeds: [0, 1]", "seeds: [0, 0]"), "b.yaml: seeds: an entry is listed twice"),
        (lambda t: t.replace("protocols: [loo, cold-item]", "protocols: []"), "b.yaml: protocols: must not be empty"),
        (lambda t: "name: t\ndatasets: []\nmodels: [{model: pop}]\n", "b.yaml: datasets: must not be empty"),
        (lambda t: t + "device: tpu\n", "b.yaml: device: unknown device 'tpu'"),
        (lambda t: t + "protocol_options: {temporal: {test_dayz: 3}}\n", "b.yaml: protocol_options.temporal.test_dayz: Extra inputs"),
        (lambda t: t.replace("method: raw-text", "method: raw-txt"), "b.yaml: embeddings.0.method: unknown embedding method 'raw-txt'"),
        (lambda t: t.replace("{model: pop}", "{model: pop, embeddings: [txt]}"), "b.yaml: models.0.embeddings: pop does not take item embeddings"),
        # two entries that resolve to the same cells, whatever their labels
        (lambda t: t.replace("{model: pop}", "{model: pop, label: P}\n  - {model: pop, label: Q}"),
         "b.yaml: models.0 and models.1 are the same model (pop with the same params) with embedding 'none' on ml / loo"),
        (lambda t: t.replace("{model: pop}", "{model: pop, protocols: [loo]}\n  - {model: pop, protocols: [loo, cold-item]}"),
         "b.yaml: models.0 and models.1 are the same model (pop with the same params) with embedding 'none' on ml / loo"),
        (lambda t: t + "  - {model: pop\n", "b.yaml:"),
        (lambda t: t.replace("{name: ml, source: ml-100k}", "{name: ml, source: ml-100k, synth: {products: 5}}"), "b.yaml: datasets.0.synth: Extra inputs"),
        (lambda t: t + "protocol_options: {weekly: {exclude_seen: false}}\n", "b.yaml: protocol_options.weekly: Extra inputs are not permitted"),
        (lambda t: t + "protocol_options: {loo: {exclude_seen: maybe}}\n", "b.yaml: protocol_options.loo.exclude_seen: Input should be a valid boolean"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, mutate, message):
    with pytest.raises(InputError) as caught:
        load_config(write(tmp_path, mutate(GOOD)))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_one_model_may_be_split_between_protocols_and_datasets_by_two_entries(tmp_path):
    text = GOOD.replace("{model: pop}", "{model: pop, protocols: [loo]}\n  - {model: pop, protocols: [cold-item]}")
    config = load_config(write(tmp_path, text))
    runs = sorted((c.protocol, c.model_index, c.label) for c in grid(config) if c.model.model == "pop")
    assert set(runs) == {("loo", 0, "Pop"), ("cold-item", 1, "Pop")}  # one label: they never share a table
    clash = load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: pop, protocols: [loo]}\n  - {model: pop, params: {seed: 1}}")))
    assert sorted({c.label for c in grid(clash) if c.model.model == "pop" and c.protocol == "loo"}) == ["Pop", "Pop #2"]


def test_exclude_seen_defaults_per_protocol_and_is_part_of_the_cell_key(tmp_path):
    text = GOOD.replace("protocols: [loo, cold-item]", "protocols: [loo, temporal, cold-item]")
    config = load_config(write(tmp_path, text))
    assert (config.exclude_seen("loo"), config.exclude_seen("temporal"), config.exclude_seen("cold-item")) == (True, False, True)
    flipped = load_config(write(tmp_path, text + "protocol_options: {temporal: {exclude_seen: true, test_days: 7}}\n"))
    assert flipped.exclude_seen("temporal") and flipped.protocol_options.temporal.test_days == 7
    key = {(c.protocol, c.model.model, c.seed, c.dataset.name): c.key(config, "fp") for c in grid(config)}
    for cell in grid(flipped):
        same = key[(cell.protocol, cell.model.model, cell.seed, cell.dataset.name)] == cell.key(flipped, "fp")
        assert same == (cell.protocol != "temporal")


def test_an_entry_may_run_under_some_protocols_only(tmp_path):
    config = load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: pop, protocols: [cold-item]}")))
    assert {(c.protocol, c.model.model) for c in grid(config) if c.model.model == "pop"} == {("cold-item", "pop")}
    with pytest.raises(InputError, match="models.0.protocols: 'temporal' is not one of the config's protocols"):
        load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: pop, protocols: [temporal]}")))


def test_an_entry_may_run_on_some_datasets_only_in_the_grid_and_in_tuning(tmp_path):
    from recsys_cl.bench import study_plans

    config = load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: pop, datasets: [syn]}")))
    assert {(c.dataset.name, c.protocol) for c in grid(config) if c.model.model == "pop"} == {("syn", "loo"), ("syn", "cold-item")}
    assert {(p.dataset, p.protocol) for p in study_plans(config) if p.model.model == "pop"} == {("syn", "loo"), ("syn", "cold-item")}
    with pytest.raises(InputError, match="models.0.datasets: 'hm' is not one of the config's datasets \\(ml, syn\\)"):
        load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: pop, datasets: [hm]}")))


def test_a_sequential_model_on_a_protocol_out_of_time_order_is_refused_before_any_work(tmp_path):
    # GOOD's protocols are loo and cold-item; cold-item holds whole items out, so a next-item model cannot run on it
    with pytest.raises(InputError, match=r"protocols: sasrec cannot run on 'cold-item' \(it needs a protocol in time order"):
        load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: sasrec}")))
    with pytest.raises(InputError, match=r"models\.0\.protocols: gru4rec cannot run on 'cold-item'"):
        load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: gru4rec, protocols: [loo, cold-item]}")))
    config = load_config(write(tmp_path, GOOD.replace("{model: pop}", "{model: sasrec, protocols: [loo]}")))
    assert {c.protocol for c in grid(config) if c.model.model == "sasrec"} == {"loo"}
